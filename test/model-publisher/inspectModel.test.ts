import {mkdtemp, rm, writeFile} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {inspectModel, PRESETS, writeTestModel} from "../../model-publisher/index.ts"

let dir: string
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-inspect-"))
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

// Parameter counts worked out by hand from the shapes: embeddings, output, per-block attention
// (q, o full; k, v for the kv heads), gated FFN, norms.
const EXPECTED_PARAMETERS = {
    tiny: 1024 * 64 * 2 + 2 * (64 * 64 * 4 + 3 * 64 * 128 + 2 * 64) + 64,
    small: 4096 * 128 * 2 + 4 * (128 * 128 * 2 + 2 * 128 * 64 + 3 * 128 * 384 + 2 * 128) + 128
}

describe("inspectModel", () => {
    it.each([
        ["tiny", "f32", 0, "ALL_F32"],
        ["tiny", "q8_0", 7, "MOSTLY_Q8_0"],
        ["small", "f16", 1, "MOSTLY_F16"]
    ] as const)("summarises a %s %s test model", async (preset, type, fileType, fileTypeName) => {
        const written = await writeTestModel({preset, seed: 11, type, path: join(dir, `${preset}-${type}.gguf`)})
        const {shape} = PRESETS[preset]
        expect(await inspectModel(written.path)).toEqual({
            architecture: "llama",
            name: `weavelm-test-${preset}-seed11`,
            parameterCount: EXPECTED_PARAMETERS[preset],
            fileType,
            fileTypeName,
            contextLength: shape.contextLength,
            embeddingLength: shape.embeddingLength,
            blockCount: shape.blockCount,
            vocabularySize: shape.vocabularySize,
            tokenizerModel: "llama",
            sizeBytes: written.sizeBytes
        })
        expect(written.parameterCount).toBe(EXPECTED_PARAMETERS[preset])
    })

    it("rejects a file that is not GGUF", async () => {
        const path = join(dir, "not-a-model.gguf")
        await writeFile(path, "hello")
        await expect(inspectModel(path)).rejects.toThrow()
    })
})
