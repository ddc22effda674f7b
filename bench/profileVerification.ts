/**
 * Where verifyReceipt() spends its time, against generate(): `node --import tsx bench/profileVerification.ts [rounds]`.
 * 125m q8_0, 256 greedy tokens, 1 CPU thread, every figure measured in the same alternating rounds
 * (median wall and process CPU time). Besides the real calls, it decodes the same tokens through
 * node-llama-cpp's internals (as worker/engine/SequenceReader.ts does) in the shapes score() uses,
 * with and without logits at every output position and with and without the per-position reads,
 * and times each kind of native read alone. Figures quoted in docs/verification.md (Cost).
 */
import os from "node:os"
import path from "node:path"
import {getLlama, LlamaLogLevel, type Token} from "node-llama-cpp"
import {encodeReceipt, hashPrompt, type Receipt, type Sampling} from "../sdk/receipt/index.ts"
import {verifyReceipt} from "../verifier/index.ts"
import {LoadedModel, type EngineInfo} from "../worker/engine/index.ts"
import {benchModel} from "./benchModel.ts"

const PROMPT = "The river ran past the old mill and"
const SCORE_CHUNK = 32
const TOP_K = 8
const rounds = Number(process.argv[2] ?? 5)
const sampling: Sampling = {maxTokens: 256, temperature: "0", topK: 40, topP: "1", seed: 0}

const file = await benchModel(path.join(os.tmpdir(), "weavelm-bench"), (line) => process.stderr.write(`${line}\n`))
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.warn, maxThreads: 0})
const model = await llama.loadModel({modelPath: file})
const newContext = () => model.createContext({contextSize: 1024, sequences: 1, batchSize: 512, threads: {ideal: 1, min: 1}})
const info: EngineInfo = {name: "node-llama-cpp", version: "3.22.1", llamaCpp: llama.llamaCppRelease.release, backend: "cpu", gpu: null}
const worker = new LoadedModel(llama, model, await newContext(), info)
const verifier = new LoadedModel(llama, model, await newContext(), info)

// The internals SequenceReader reads through (node-llama-cpp 3.22.1).
const sequence = (await newContext()).getSequence() as unknown as {
    tokenMeter: unknown
    _contextShift: unknown
    clearHistory(): Promise<void>
    _decodeTokens(
        tokens: Token[],
        logits: (true | undefined)[],
        priority: number,
        meter: unknown,
        shift: unknown,
        read: (index: number) => Promise<unknown>
    ): Promise<unknown[]>
    _context: {_ctx: {sampleToken(index: number, sampler: unknown, ...options: unknown[]): Promise<unknown>}}
}
const native = sequence._context._ctx
const AddonSampler = (llama as unknown as {_bindings: {AddonSampler: new (model: unknown) => {applyConfig(config: object): void}}})
    ._bindings.AddonSampler
const newSampler = (config: object) => {
    const sampler = new AddonSampler((model as unknown as {_model: unknown})._model)
    sampler.applyConfig(config)
    return sampler
}
// As SequenceReader configures them: a greedy chain for the argmax and the normaliser, a top-k chain for the ranking.
const weigher = newSampler({temperature: 0})
const ranker = newSampler({temperature: 1, minP: 0, topK: TOP_K, topP: 1, seed: 0})
const weigh = (index: number) => native.sampleToken(index, weigher, false, false, false, true)
const rank = (index: number) => native.sampleToken(index, ranker, false, false, [[], false, false, false, TOP_K], false)

type Reads = "none" | "logits" | "reads"
/** Input in one batch, then the output in chunks (0: all in one batch); "none": logits only where a chunk ends. */
async function forward(input: Token[], output: Token[], chunk: number, reads: Reads) {
    await sequence.clearHistory()
    const decode = (tokens: Token[], from: number) =>
        sequence._decodeTokens(
            tokens,
            tokens.map((_, i) => (i >= from ? true : undefined)),
            5,
            sequence.tokenMeter,
            sequence._contextShift,
            async (index) => (reads === "reads" ? Promise.all([weigh(index), rank(index)]) : null)
        )
    const rest = output.slice(0, -1)
    if (chunk === 0) return decode([...input, ...rest], reads === "none" ? input.length + rest.length - 1 : input.length - 1)
    await decode(input, input.length - 1)
    for (let start = 0; start < rest.length; start += chunk) {
        const part = rest.slice(start, start + chunk)
        await decode(part, reads === "none" ? part.length - 1 : 0)
    }
}

const wall = new Map<string, number[]>()
const cpu = new Map<string, number[]>()
async function time(name: string, run: () => Promise<unknown>) {
    const cpuStart = process.cpuUsage()
    const started = performance.now()
    await run()
    const used = process.cpuUsage(cpuStart)
    wall.set(name, [...(wall.get(name) ?? []), performance.now() - started])
    cpu.set(name, [...(cpu.get(name) ?? []), (used.user + used.system) / 1000])
}

for (let round = 0; round < rounds; round++) {
    process.stderr.write(`round ${round + 1} of ${rounds}\n`)
    let generation!: Awaited<ReturnType<LoadedModel["generate"]>>
    await time("generate()", async () => {
        generation = await worker.generate({prompt: PROMPT, format: "text", sampling})
    })
    const receipt: Receipt = {
        version: 1,
        taskId: "bench",
        worker: "bench",
        model: {id: "bench", sha256: "0".repeat(64)},
        prompt: {format: "text", sha256: hashPrompt(PROMPT)},
        sampling,
        engine: generation.engine,
        inputTokens: generation.inputTokens,
        outputTokens: generation.outputTokens,
        output: generation.output,
        stopReason: generation.stopReason,
        tokens: generation.tokens,
        timings: {startedAt: 0, promptMs: 0, generationMs: 0},
        log: []
    }
    const {bytes, hash} = encodeReceipt(receipt)
    await time("verifyReceipt()", () =>
        verifyReceipt({
            receipt: JSON.parse(bytes.toString("utf8")),
            receiptBytes: bytes,
            model: verifier,
            expected: {prompt: PROMPT, format: "text", sampling, receiptHash: hash, output: receipt.output}
        })
    )
    await time("score()", () => verifier.score({inputTokens: receipt.inputTokens, outputTokens: receipt.outputTokens, topK: TOP_K}))
    const [input, output] = [generation.inputTokens, generation.outputTokens]
    await time(`chunks of ${SCORE_CHUNK}, logits everywhere, both reads`, () => forward(input, output, SCORE_CHUNK, "reads"))
    await time(`chunks of ${SCORE_CHUNK}, logits everywhere, no reads`, () => forward(input, output, SCORE_CHUNK, "logits"))
    await time(`chunks of ${SCORE_CHUNK}, logits at chunk ends only`, () => forward(input, output, SCORE_CHUNK, "none"))
    await time("one batch, logits everywhere, no reads", () => forward(input, output, 0, "logits"))
    await time("one batch, logits at the end only", () => forward(input, output, 0, "none"))
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const [generateWall, generateCpu] = [median(wall.get("generate()")!), median(cpu.get("generate()")!)]
process.stdout.write(`125m q8_0, 256 greedy tokens, 1 thread, median of ${rounds} alternating rounds; x = generate() / this\n`)
for (const [name, values] of wall) {
    const [w, c] = [median(values), median(cpu.get(name)!)]
    process.stdout.write(
        `${name.padEnd(46)} wall ${w.toFixed(0).padStart(5)} ms ${(generateWall / w).toFixed(2).padStart(5)}x   CPU ${c.toFixed(0).padStart(5)} ms ${(generateCpu / c).toFixed(2).padStart(5)}x\n`
    )
}

// Each kind of read alone, over the positions of one batch: process CPU time per read.
await sequence.clearHistory()
const tokens = model.tokenize(PROMPT.repeat(4)) as Token[]
await sequence._decodeTokens(
    tokens,
    tokens.map(() => true),
    5,
    sequence.tokenMeter,
    sequence._contextShift,
    async (index) => {
        if (index !== tokens.length - 1) return null
        for (const [name, read] of [
            ["weigher (argmax, normaliser)", weigh],
            [`ranker (top ${TOP_K})`, rank]
        ] as const) {
            const cpuStart = process.cpuUsage()
            for (let repeat = 0; repeat < 20; repeat++) for (let i = 0; i < tokens.length; i++) await read(i)
            const used = process.cpuUsage(cpuStart)
            process.stdout.write(
                `read: ${name.padEnd(30)} ${((used.user + used.system) / 1000 / 20 / tokens.length).toFixed(3)} ms CPU each\n`
            )
        }
        return null
    }
)
process.exit(0)
