import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type Token} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {writeTestModel} from "../../model-publisher/index.ts"
import type {Sampling, TokenRecord} from "../../sdk/receipt/index.ts"
import {InferenceEngine, InvalidPromptError, PromptTooLongError, type Generation, type LoadedModel} from "../../worker/engine/index.ts"

const CONTEXT_SIZE = 256
const greedy: Sampling = {maxTokens: 24, temperature: "0", topK: 40, topP: "1", seed: 0}
const sampled: Sampling = {maxTokens: 24, temperature: "1.0", topK: 40, topP: "0.95", seed: 7}

let dir: string
let path: string
let engine: InferenceEngine
let model: LoadedModel
// Plain node-llama-cpp on the same file: the reference the engine must agree with.
let llama: Llama
let reference: LlamaContextSequence

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-engine-"))
    path = (await writeTestModel({preset: "tiny", seed: 1, path: join(dir, "tiny.gguf")})).path
    engine = await InferenceEngine.create({gpu: "cpu"})
    model = await engine.loadModel(path, {contextSize: CONTEXT_SIZE, sequences: 2})
    llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error})
    const context = await (await llama.loadModel({modelPath: path})).createContext({
        contextSize: CONTEXT_SIZE,
        threads: 1,
        flashAttention: false
    })
    reference = context.getSequence()
})
afterAll(async () => {
    await llama?.dispose()
    await engine?.dispose()
    await rm(dir, {recursive: true, force: true})
})

const text = (prompt: string, sampling: Sampling) => model.generate({prompt, format: "text", sampling})
const withoutTimings = ({timings, ...rest}: Generation) => rest

describe("generate", () => {
    it("is deterministic at temperature 0 and records the raw distribution token by token", async () => {
        const first = await text("The river", greedy)
        const second = await text("The river", greedy)
        expect(withoutTimings(second)).toEqual(withoutTimings(first))
        expect(first.stopReason).toBe("maxTokens")
        expect(first.output.trim().split(/\s+/).length).toBeGreaterThan(10)
        expect(first.engine).toMatchObject({name: "node-llama-cpp", backend: "cpu", gpu: null, threads: 1, contextSize: CONTEXT_SIZE})

        // The same steps through the public API with full-vocabulary probabilities.
        await reference.clearHistory()
        let input: Token[] = first.inputTokens
        for (const [i, record] of first.tokens.entries()) {
            const [result] = (
                await reference.controlledEvaluate(
                    input.map((token, j) => (j === input.length - 1 ? [token, {generateNext: {token: true, probabilities: true}}] : token))
                )
            ).slice(-1)
            const probabilities = result!.next.probabilities!
            expect(result!.next.token).toBe(first.outputTokens[i])
            expect(record.logprob).toBeCloseTo(Math.log(probabilities.get(record.token as Token)!), 5)
            expect(record.top.map(([token]) => token)).toEqual([...probabilities.keys()].slice(0, record.top.length))
            for (const [token, logprob] of record.top) expect(logprob).toBeCloseTo(Math.log(probabilities.get(token as Token)!), 5)
            input = [first.outputTokens[i]!]
        }
    })

    it("records consistent top-k lists", async () => {
        const runs = [
            [await text("The river", greedy), true],
            [await text("Once upon", sampled), false]
        ] as const
        for (const [generation, greedyChoice] of runs) {
            expect(generation.tokens.map((record) => record.token)).toEqual(generation.outputTokens)
            for (const record of generation.tokens) expectConsistent(record, greedyChoice)
        }
        // Sampling at temperature 1 picks a runner-up now and then.
        expect(runs[1][0].tokens.some((record) => record.top[0]![0] !== record.token)).toBe(true)
    })

    it("samples with the seed like node-llama-cpp's own evaluate, the same every time", async () => {
        const first = await text("The river", sampled)
        expect(withoutTimings(await text("The river", sampled))).toEqual(withoutTimings(first))
        const other = await text("The river", {...sampled, seed: 8})
        expect(other.outputTokens).not.toEqual(first.outputTokens)
        expect(first.outputTokens).not.toEqual((await text("The river", greedy)).outputTokens)

        await reference.clearHistory()
        const raw: Token[] = []
        for await (const token of reference.evaluate(first.inputTokens, {temperature: 1, topK: 40, topP: 0.95, seed: 7})) {
            raw.push(token)
            if (raw.length === sampled.maxTokens) break
        }
        expect(first.outputTokens).toEqual(raw)
    })

    it("stops at maxTokens", async () => {
        const generation = await text("The river", {...greedy, maxTokens: 7})
        expect(generation.outputTokens).toHaveLength(7)
        expect(generation.stopReason).toBe("maxTokens")
    })

    it("formats chat prompts with the model's template", async () => {
        const messages = [
            {role: "system", content: "Be brief."},
            {role: "user", content: "Tell me about the river"}
        ]
        const chat = await model.generate({prompt: JSON.stringify(messages), format: "chat", sampling: greedy})
        const fed = model.detokenize(chat.inputTokens, true)
        expect(fed).toMatch(/^<s><\|im_start\|> ?system\nBe brief\.<\|im_end\|>/)
        expect(fed).toContain("user\nTell me about the river<|im_end|>")
        expect(fed).toMatch(/<\|im_start\|> ?assistant\n$/)
        expect(chat.outputTokens.length).toBeGreaterThan(0)
        expect(chat.inputTokens.length).toBeGreaterThan((await text("Be brief. Tell me about the river", greedy)).inputTokens.length + 6)

        for (const prompt of [
            "not json",
            "[]",
            JSON.stringify([{role: "bot", content: "hi"}]),
            JSON.stringify({role: "user", content: "hi"})
        ])
            await expect(model.generate({prompt, format: "chat", sampling: greedy})).rejects.toBeInstanceOf(InvalidPromptError)
    })

    it("refuses a prompt with no room for an output token and stops when the context is full", async () => {
        const words = (count: number) => Array(count).fill("the").join(" ")
        const error = await text(words(CONTEXT_SIZE), greedy).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(PromptTooLongError)
        expect(error).toMatchObject({tokens: CONTEXT_SIZE + 1, contextSize: CONTEXT_SIZE})

        // BOS and one token per word: room for exactly 3 output tokens.
        const full = await text(words(CONTEXT_SIZE - 4), greedy)
        expect(full.inputTokens).toHaveLength(CONTEXT_SIZE - 3)
        expect(full.outputTokens).toHaveLength(3)
        expect(full.stopReason).toBe("contextFull")
    })

    it("runs generations on both sequences at once, queues a third, and matches running them one by one", async () => {
        const requests: [string, Sampling][] = [
            ["The river", greedy],
            ["Once upon", sampled],
            ["A small boat", {...sampled, seed: 3}]
        ]
        const together = await Promise.all(requests.map(([prompt, sampling]) => text(prompt, sampling)))
        for (const [i, [prompt, sampling]] of requests.entries()) {
            const alone = await text(prompt, sampling)
            expect(together[i]!.outputTokens).toEqual(alone.outputTokens)
            expect(maxLogprobDelta(together[i]!.tokens, alone.tokens)).toBeLessThan(1e-3)
        }
    })

    it("rejects an aborted request", async () => {
        await expect(model.generate({prompt: "The river", format: "text", sampling: greedy, signal: AbortSignal.abort()})).rejects.toThrow()
        await expect(text("The river", {...greedy, temperature: "warm"})).rejects.toBeInstanceOf(RangeError)
    })
})

describe("score", () => {
    it("agrees with an honest greedy generation in one pass", async () => {
        const generation = await text("The river", {...greedy, maxTokens: 64})
        const scored = await model.score({inputTokens: generation.inputTokens, outputTokens: generation.outputTokens})
        expect(scored.map((record) => record.token)).toEqual(generation.outputTokens)
        const agreement = scored.filter((record, i) => record.top[0]![0] === generation.outputTokens[i]).length / scored.length
        expect(agreement).toBeGreaterThanOrEqual(0.95)
        expect(maxLogprobDelta(scored, generation.tokens)).toBeLessThan(1e-2)
        for (const record of scored) expectConsistent(record, false)
        const wider = await model.score({inputTokens: generation.inputTokens, outputTokens: generation.outputTokens, topK: 8})
        expect(wider.every((record) => record.top.length === 8)).toBe(true)
    })

    it("re-scores an honest q8_0 generation bit for bit on the CPU", async () => {
        const quantized = await engine.loadModel(
            (await writeTestModel({preset: "tiny", seed: 1, type: "q8_0", path: join(dir, "tiny-q8_0.gguf")})).path,
            {contextSize: CONTEXT_SIZE}
        )
        try {
            const generation = await quantized.generate({prompt: "The river", format: "text", sampling: {...greedy, maxTokens: 100}})
            expect(await quantized.score({inputTokens: generation.inputTokens, outputTokens: generation.outputTokens})).toEqual(
                generation.tokens
            )
        } finally {
            await quantized.dispose()
        }
    })

    it("re-scores bit for bit past 256 tokens on 1 thread with flash attention on, where the cache outgrows one attention block", async () => {
        // With flash attention on, chunks under 64 rows run the single-row kernels; a multi-threaded worker's
        // single-token attention would split a cache of 512+ cells between its threads, which is why the
        // engine's default is off (and off, batched rows round differently: verifier/thresholds.ts).
        const quantized = await engine.loadModel(
            (await writeTestModel({preset: "tiny", seed: 1, type: "q8_0", path: join(dir, "tiny-q8_0.gguf")})).path,
            {contextSize: 512, threads: 1, flashAttention: true}
        )
        try {
            const generation = await quantized.generate({
                prompt: "The river ran past the old mill and on to the sea. ".repeat(16),
                format: "text",
                sampling: {...greedy, maxTokens: 120}
            })
            expect(generation.inputTokens.length + generation.outputTokens.length).toBeGreaterThan(300)
            expect(await quantized.score({inputTokens: generation.inputTokens, outputTokens: generation.outputTokens})).toEqual(
                generation.tokens
            )
        } finally {
            await quantized.dispose()
        }
    })

    it("exposes a token that was not the model's choice", async () => {
        const generation = await text("The river", greedy)
        const tampered = [...generation.outputTokens]
        const [swapped, claimed] = generation.tokens[5]!.top[4]!
        tampered[5] = swapped as Token
        const scored = await model.score({inputTokens: generation.inputTokens, outputTokens: tampered})
        expect(scored[5]!.token).toBe(swapped)
        expect(scored[5]!.top[0]![0]).not.toBe(swapped)
        expect(scored[5]!.logprob).toBeCloseTo(claimed, 2)
        expect(scored[5]!.logprob).toBeLessThan(scored[5]!.top[0]![1] - 1)
    })

    it("refuses token ids outside the vocabulary", async () => {
        await expect(model.score({inputTokens: [1, 5000], outputTokens: [3]})).rejects.toBeInstanceOf(RangeError)
    })
})

function expectConsistent(record: TokenRecord, greedyChoice: boolean) {
    expect(record.logprob).toBeLessThanOrEqual(0)
    expect(record.top.length).toBeGreaterThanOrEqual(5)
    for (let i = 1; i < record.top.length; i++) expect(record.top[i]![1]).toBeLessThanOrEqual(record.top[i - 1]![1])
    expect(record.top.reduce((sum, [, logprob]) => sum + Math.exp(logprob), 0)).toBeLessThanOrEqual(1 + 1e-6)
    expect(record.logprob).toBeLessThanOrEqual(record.top[0]![1])
    const listed = record.top.find(([token]) => token === record.token)
    if (listed != null) expect(listed[1]).toBe(record.logprob)
    if (greedyChoice) expect(record.top[0]![0]).toBe(record.token)
}

function maxLogprobDelta(a: readonly TokenRecord[], b: readonly TokenRecord[]) {
    return Math.max(...a.map((record, i) => Math.abs(record.logprob - b[i]!.logprob)))
}
