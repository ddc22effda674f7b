import {Command, Option} from "commander"
import type {WorkerLogEvent} from "../../worker/service/index.ts"
import {openConnection, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"
import {parseAmount, parseInteger} from "../parse.ts"

interface WorkerStartOptions extends NetworkOptions {
    models: string
    priceInput: string
    priceOutput: string
    stake: string
    concurrency: number
    gpu: "auto" | "cuda" | "vulkan" | "cpu"
    threads?: number
    cacheDir: string
    hardware?: string
    endpoint?: string
}

export function workerCommand() {
    return new Command("worker")
        .description("run an inference worker: stake, register, answer tasks, store receipts on Arweave")
        .addCommand(withNetworkOptions(new Command("start"))
            .description("start a worker; Ctrl-C / SIGTERM finishes or hands back running tasks and exits")
            .requiredOption("--models <ids>", "comma-separated Model-Ids or names to serve")
            .option("--price-input <n>", "token base units per 1000 input tokens", parseNonNegative, "1000")
            .option("--price-output <n>", "token base units per 1000 output tokens", parseNonNegative, "2000")
            .option("--stake <n>", "stake to hold in the registry (topped up when below)", parseAmount, "1000")
            .option("--concurrency <n>", "tasks run at once", parseInteger(1, 64), 1)
            .addOption(new Option("--gpu <kind>", "inference backend").choices(["auto", "cuda", "vulkan", "cpu"]).default("auto"))
            .option("--threads <n>", "CPU threads for inference (default 1 on CPU: more crawl on a busy machine)", parseInteger(1, 256))
            .option("--cache-dir <dir>", "model cache and worker state", ".weavelm")
            .option("--hardware <text>", "hardware description to register (default: backend and GPU name)")
            .option("--endpoint <url>", "public URL of this worker's HTTP endpoint, if any")
            .action(async (options: WorkerStartOptions) => {
                const {Worker} = await import("../../worker/service/index.ts")
                const connection = await openConnection(options)
                const processes = requireProcesses(connection.config)
                const models = options.models.split(",").map((m) => m.trim()).filter(Boolean)
                if (models.length === 0) throw new UserError("--models names no model")
                const log = options.json
                    ? (event: WorkerLogEvent) => process.stdout.write(JSON.stringify({time: new Date().toISOString(), ...event}) + "\n")
                    : (event: WorkerLogEvent) => process.stderr.write(`${new Date().toISOString()} ${event.level.padEnd(5)} ${event.message}\n`)
                const worker = await Worker.start({
                    connection, processes, models, priceInput: options.priceInput, priceOutput: options.priceOutput,
                    stake: options.stake, concurrency: options.concurrency, gpu: options.gpu, threads: options.threads,
                    cacheDir: options.cacheDir, hardware: options.hardware, endpoint: options.endpoint, log
                })
                await new Promise<void>((resolve) => {
                    const stop = () => {
                        process.off("SIGINT", stop)
                        process.off("SIGTERM", stop)
                        log({level: "info", event: "worker.stopping", message: "stopping: finishing running tasks"})
                        void worker.stop().then(resolve)
                    }
                    process.on("SIGINT", stop)
                    process.on("SIGTERM", stop)
                })
            }))
}

function parseNonNegative(value: string) {
    if (!/^\d{1,38}$/.test(value)) throw new UserError(`must be a whole number of token base units, got "${value}"`)
    return value.replace(/^0+(?=\d)/, "")
}
