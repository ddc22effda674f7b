import type {Token} from "node-llama-cpp"
import {describe, expect, it} from "vitest"
import type {Engine, Receipt} from "../../sdk/receipt/index.ts"
import {VerifierModels, type DisposableVerifierModel, type VerifierModel} from "../../verifier/index.ts"

// Which model a verification gets: the caller's own when it re-scores the receipt with the receipt's kernels, else one loaded (and cached) for it.

const engine = (batchSize: number, contextSize: number): Engine => ({
    name: "node-llama-cpp",
    version: "3.22.1",
    llamaCpp: "b1",
    backend: "cpu",
    gpu: null,
    threads: 1,
    batchSize,
    contextSize
})
const receipt = (batchSize: number, tokens = 10) =>
    ({
        engine: engine(batchSize, 512),
        inputTokens: Array.from({length: tokens}, () => 1),
        outputTokens: [5]
    }) as unknown as Receipt

function fakeModel(batchSize: number, contextSize: number, disposed: string[] = [], name = ""): DisposableVerifierModel {
    return {
        engine: engine(batchSize, contextSize),
        contextSize,
        weightClass: "f32",
        vocabularySize: 10,
        score: async () => [],
        tokenizePrompt: () => [] as Token[],
        detokenize: () => "",
        isEogToken: () => false,
        dispose: async () => void disposed.push(name)
    }
}

describe("VerifierModels", () => {
    it("reuses a model loaded elsewhere only when its batch size is the receipt's and its context holds the receipt", async () => {
        const served = fakeModel(512, 512)
        const loads: Array<{path: string; options: unknown}> = []
        const models = new VerifierModels({
            load: async (path, options) => {
                loads.push({path, options})
                return fakeModel(0, 0)
            },
            loaded: (sha256) => (sha256 === "a" ? served : undefined)
        })
        expect(await models.modelFor({path: "a.gguf", sha256: "a"}, receipt(512))).toBe(served)
        expect(loads).toEqual([])

        expect(await models.modelFor({path: "a.gguf", sha256: "a"}, receipt(32))).not.toBe(served)
        expect(await models.modelFor({path: "a.gguf", sha256: "a"}, receipt(512, 600))).not.toBe(served)
        expect(await models.modelFor({path: "b.gguf", sha256: "b"}, receipt(512))).not.toBe(served)
        expect(loads).toEqual([
            {path: "a.gguf", options: {contextSize: 512, batchSize: 32, sequences: 1}},
            {path: "a.gguf", options: {contextSize: 601, batchSize: 512, sequences: 1}},
            {path: "b.gguf", options: {contextSize: 512, batchSize: 512, sequences: 1}}
        ])
    })

    it("keeps the most recently used models loaded and disposes the rest", async () => {
        const disposed: string[] = []
        const models = new VerifierModels({load: async (path) => fakeModel(512, 512, disposed, path), keep: 2})
        const a: VerifierModel = await models.modelFor({path: "a", sha256: "a"}, receipt(512))
        await models.modelFor({path: "b", sha256: "b"}, receipt(512))
        expect(await models.modelFor({path: "a", sha256: "a"}, receipt(512))).toBe(a)
        await models.modelFor({path: "c", sha256: "c"}, receipt(512))
        expect(disposed).toEqual(["b"])
        await models.dispose()
        expect(disposed.sort()).toEqual(["a", "b", "c"])
    })
})
