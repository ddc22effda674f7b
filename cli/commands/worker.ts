import {DEFAULT_CACHE_DIR} from "../../sdk/network/index.ts"
import {Command, Option} from "commander"
import type {WorkerLogEvent} from "../../worker/index.ts"
import {openConnection, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UserError} from "../errors.ts"
import {parseAmount, parseInteger} from "../parse.ts"
import {stopOnSignal} from "../stopOnSignal.ts"

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
    http?: number
    httpHost: string
    httpCapacity?: number
    settleThreshold: string
    settleInterval: number
}

export function workerCommand() {
    return new Command("worker")
        .description("run an inference worker: stake, register, answer tasks, store receipts on Arweave")
        .addCommand(
            withNetworkOptions(new Command("start"))
                .description("start a worker; Ctrl-C / SIGTERM finishes or hands back running tasks and exits")
                .requiredOption("--models <ids>", "comma-separated Model-Ids or names to serve")
                .option("--price-input <n>", "token base units per 1000 input tokens", parseNonNegative, "1000")
                .option("--price-output <n>", "token base units per 1000 output tokens", parseNonNegative, "2000")
                .option("--stake <n>", "stake to hold in the registry (topped up when below)", parseAmount, "1000")
                .option("--concurrency <n>", "tasks run at once", parseInteger(1, 64), 1)
                .addOption(new Option("--gpu <kind>", "inference backend").choices(["auto", "cuda", "vulkan", "cpu"]).default("auto"))
                .option("--threads <n>", "CPU threads for inference (default 1 on CPU: more crawl on a busy machine)", parseInteger(1, 256))
                .option("--cache-dir <dir>", "model cache and worker state", DEFAULT_CACHE_DIR)
                .option("--hardware <text>", "hardware description to register (default: backend and GPU name)")
                .option("--endpoint <url>", "public URL of this worker's HTTP endpoint (default with --http: http://HOST:PORT/v1)")
                .option("--http <port>", "serve the OpenAI-compatible direct-mode endpoint on this port", parseInteger(0, 65535))
                .option("--http-host <host>", "interface the HTTP endpoint listens on", "127.0.0.1")
                .option(
                    "--http-capacity <n>",
                    "HTTP completions served at once; more get 429 (default: --concurrency)",
                    parseInteger(1, 1024)
                )
                .option(
                    "--settle-threshold <n>",
                    "redeem a channel's voucher once it pays this many base units beyond what was redeemed",
                    parseAmount,
                    "1000000"
                )
                .option("--settle-interval <seconds>", "redeem every channel's latest voucher this often", parseInteger(1, 604800), 600)
                .action(async (options: WorkerStartOptions) => {
                    const {WorkerNode} = await import("../../worker/index.ts")
                    const connection = await openConnection(options)
                    const processes = requireProcesses(connection.config)
                    const models = options.models
                        .split(",")
                        .map((m) => m.trim())
                        .filter(Boolean)
                    if (models.length === 0) throw new UserError("--models names no model")
                    const log = options.json
                        ? (event: WorkerLogEvent) => process.stdout.write(JSON.stringify({time: new Date().toISOString(), ...event}) + "\n")
                        : (event: WorkerLogEvent) =>
                              process.stderr.write(`${new Date().toISOString()} ${event.level.padEnd(5)} ${event.message}\n`)
                    const node = await WorkerNode.start({
                        connection,
                        processes,
                        models,
                        priceInput: options.priceInput,
                        priceOutput: options.priceOutput,
                        stake: options.stake,
                        concurrency: options.concurrency,
                        gpu: options.gpu,
                        threads: options.threads,
                        cacheDir: options.cacheDir,
                        hardware: options.hardware,
                        endpoint: options.endpoint,
                        log,
                        http:
                            options.http == null
                                ? undefined
                                : {
                                      port: options.http,
                                      host: options.httpHost,
                                      capacity: options.httpCapacity,
                                      settleThreshold: options.settleThreshold,
                                      settleIntervalMs: options.settleInterval * 1000
                                  }
                    })
                    await stopOnSignal(() => node.stop())
                })
        )
}

function parseNonNegative(value: string) {
    if (!/^\d{1,38}$/.test(value)) throw new UserError(`must be a whole number of token base units, got "${value}"`)
    return value.replace(/^0+(?=\d)/, "")
}
