import {mkdtemp, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {getLlama, LlamaLogLevel} from "node-llama-cpp"
import {Devnet, type DevnetMode} from "../../devnet/index.ts"
import {WeaveLM} from "../../sdk/client/index.ts"
import {connectNetwork} from "../../sdk/network/index.ts"
import {decodeReceipt} from "../../sdk/receipt/index.ts"
import {TokenClient} from "../../sdk/token/index.ts"
import {generateWallet} from "../../sdk/wallet/index.ts"
import {Worker} from "../../worker/service/index.ts"
import {benchModel, publishBenchModel} from "../benchModel.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const PORT = 4800
const LEGACY_PORT = 4810
/** Tasks per network mode for the messaging figures. */
const MODE_TASKS = 5
const PROMPT = "The river ran past the old mill and"
const MAX_TOKENS = 128

/**
 * A task through the whole protocol on the devnet (Infer message, assignment,
 * generation with receipts, receipt upload, Task-Result, Infer-Result) against
 * raw node-llama-cpp generation of the same model, prompt and greedy decoding,
 * in one run; then where one task's time goes, and aggregate tokens/s with 1, 2
 * and 4 tasks in flight; then, on a mainnet-mode and a legacy-mode devnet side
 * by side, the AO messages each task costs and how fast the worker reacts.
 */
export const suite: BenchSuite = {
    name: "worker",
    description: `125m q8_0, ${MAX_TOKENS} greedy tokens, 1 thread per sequence: protocol vs raw node-llama-cpp, latency split, concurrency`,
    async run({workDir, log}) {
        const file = await benchModel(workDir, log)
        const dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-bench-devnet-"))
        const devnet = await Devnet.start({port: PORT, dataDir, parameters: {escrow: {"Task-Timeout": "600000"}}})
        let worker: Worker | undefined
        let rows: BenchRow[]
        try {
            const dev = await publishBenchModel(devnet, dataDir, file, log)
            const workerConnection = connectNetwork(devnet.network, await generateWallet())
            await new TokenClient(dev.ao, devnet.processes.token).transfer(workerConnection.address, "1000")
            worker = await Worker.start({
                connection: workerConnection,
                processes: devnet.processes,
                models: ["bench-125m"],
                priceInput: "1",
                priceOutput: "1",
                stake: "1000",
                concurrency: 4,
                gpu: "cpu",
                threads: 1,
                cacheDir: dataDir,
                pollMs: 100,
                heartbeatMs: 30_000
            })
            const client = new WeaveLM(dev, devnet.processes)
            await client.deposit("100000000")

            log("raw node-llama-cpp")
            const raw = await rawTokensPerSecond(file)
            log("through the protocol")
            const ask = () => client.infer({model: "bench-125m", prompt: PROMPT, maxTokens: MAX_TOKENS, maxFee: "100000"})
            await ask()
            const started = Date.now()
            const one = await ask()
            const totalMs = Date.now() - started
            const receipt = decodeReceipt(new Uint8Array(await (await fetch(`${devnet.network.gateway}/${one.receiptTx}`)).arrayBuffer()))
            const inferenceMs = receipt.timings.promptMs + receipt.timings.generationMs
            const tokens = receipt.outputTokens.length
            const protocolRate = tokens / (totalMs / 1000)
            const uploadStarted = Date.now()
            await dev.storage(dataDir).uploadData(JSON.stringify(receipt), [{name: "Type", value: "Bench"}])
            const uploadMs = Date.now() - uploadStarted

            rows = [
                {suite: "worker", name: "raw node-llama-cpp", value: raw, unit: "tok/s", note: `${MAX_TOKENS} tokens`},
                {
                    suite: "worker",
                    name: "through the protocol",
                    value: protocolRate,
                    unit: "tok/s",
                    note: "submit to Infer-Result, one task"
                },
                {
                    suite: "worker",
                    name: "protocol / raw",
                    value: (100 * protocolRate) / raw,
                    unit: "%",
                    goal: ">= 95%",
                    pass: protocolRate / raw >= 0.95
                },
                {suite: "worker", name: "one task: total", value: totalMs, unit: "ms"},
                {
                    suite: "worker",
                    name: "one task: inference",
                    value: inferenceMs,
                    unit: "ms",
                    note: "prompt + generation, from the receipt"
                },
                {suite: "worker", name: "one task: receipt upload", value: uploadMs, unit: "ms", note: "the same receipt uploaded again"},
                {suite: "worker", name: "one task: AO messaging", value: totalMs - inferenceMs - uploadMs, unit: "ms", note: "the rest"}
            ]
            for (const inFlight of [1, 2, 4]) {
                log(`${inFlight} tasks in flight`)
                const batchStarted = Date.now()
                const results = await Promise.all(Array.from({length: inFlight}, ask))
                const seconds = (Date.now() - batchStarted) / 1000
                const generated = await Promise.all(results.map(async (r) => (await client.task(r.taskId))!.outputTokens ?? 0))
                rows.push({
                    suite: "worker",
                    name: `aggregate, ${inFlight} in flight`,
                    value: generated.reduce((a, b) => a + b, 0) / seconds,
                    unit: "tok/s",
                    note: "one worker, one sequence per task"
                })
            }
        } finally {
            await worker?.stop({graceMs: 1000})
            await devnet.dispose()
            await rm(dataDir, {recursive: true, force: true})
        }
        for (const [mode, port] of [
            ["mainnet", PORT],
            ["legacy", LEGACY_PORT]
        ] as const) {
            log(`messaging on a ${mode}-mode devnet`)
            rows.push(...(await messagingFigures(mode, port, file)))
        }
        return rows
    }
}

/**
 * Messages scheduled on the three processes per task (slots, read from the devnet's node, with
 * heartbeats out of the window), and the time from an assignment becoming readable (the Infer's
 * result is in) to the worker's first decoded token, from the receipt's timings; the worker
 * polls at its default rate.
 */
async function messagingFigures(mode: DevnetMode, port: number, file: string): Promise<BenchRow[]> {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `weavelm-bench-${mode}-`))
    const devnet = await Devnet.start({port, dataDir, mode, parameters: {escrow: {"Task-Timeout": "600000"}}})
    let worker: Worker | undefined
    try {
        const dev = await publishBenchModel(devnet, dataDir, file, () => {})
        const workerConnection = connectNetwork(devnet.network, await generateWallet())
        await new TokenClient(dev.ao, devnet.processes.token).transfer(workerConnection.address, "1000")
        worker = await Worker.start({
            connection: workerConnection,
            processes: devnet.processes,
            models: ["bench-125m"],
            priceInput: "1",
            priceOutput: "1",
            stake: "1000",
            gpu: "cpu",
            threads: 1,
            cacheDir: dataDir,
            heartbeatMs: 3_600_000
        })
        const client = new WeaveLM(dev, devnet.processes)
        await client.deposit("100000000")
        const ask = () => client.escrow.submit({model: "bench-125m", prompt: PROMPT, maxTokens: 8, maxFee: "100000"})
        await client.escrow.waitForResult((await ask()).taskId)

        const node = `http://localhost:${port + 2}`
        const slots = async () => {
            const counts = await Promise.all(
                Object.values(devnet.processes).map(async (pid) => Number(await (await fetch(`${node}/${pid}/slot/current`)).text()))
            )
            return counts.reduce((a, b) => a + b, 0)
        }
        const before = await slots()
        const reactions: number[] = []
        for (let i = 0; i < MODE_TASKS; i++) {
            const from = await client.escrow.inboxCursor()
            const accepted = await ask()
            const readableAt = Date.now()
            const result = await client.escrow.waitForResult(accepted.taskId, {from})
            const receipt = decodeReceipt(
                new Uint8Array(await (await fetch(`${devnet.network.gateway}/${result.receiptTx}`)).arrayBuffer())
            )
            reactions.push(receipt.timings.startedAt + receipt.timings.promptMs - readableAt)
        }
        const perTask = ((await slots()) - before) / MODE_TASKS
        reactions.sort((a, b) => a - b)
        const median = reactions[Math.floor(reactions.length / 2)]!
        return [
            {
                suite: "worker",
                name: `${mode}: AO messages per task`,
                value: perTask,
                unit: "messages",
                goal: "<= 4",
                pass: perTask <= 4,
                note: `slots on token, registry and escrow, ${MODE_TASKS} tasks paid from a deposit`
            },
            {
                suite: "worker",
                name: `${mode}: assignment to first token`,
                value: median,
                unit: "ms",
                goal: "<= 100",
                pass: median <= 100,
                note: `median of ${MODE_TASKS}; max ${Math.round(reactions.at(-1)!)} ms; includes the prompt's prefill`
            }
        ]
    } finally {
        await worker?.stop({graceMs: 1000})
        await devnet.dispose()
        await rm(dataDir, {recursive: true, force: true})
    }
}

/** Greedy generation straight through node-llama-cpp's public API, the baseline the worker must approach. */
async function rawTokensPerSecond(file: string): Promise<number> {
    const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error})
    try {
        const model = await llama.loadModel({modelPath: file})
        const context = await model.createContext({contextSize: 1024, threads: 1})
        const sequence = context.getSequence()
        const input = model.tokenize(PROMPT, true)
        const started = Date.now()
        let count = 0
        for await (const _token of sequence.evaluate(input, {temperature: 0})) {
            if (++count >= MAX_TOKENS) break
        }
        return count / ((Date.now() - started) / 1000)
    } finally {
        await llama.dispose()
    }
}
