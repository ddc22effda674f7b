import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, expect, it} from "vitest"
import {inspectModel, measureModelMargins, writeTestModel} from "../../model-publisher/index.ts"

// The benchmark-sized preset end to end: about 10 s to write (136 MB) and a few to generate.

let dir: string
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-125m-"))
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

it("writes a ~125M-parameter q8_0 llama with a 32k vocabulary that generates words", async () => {
    const written = await writeTestModel({preset: "125m", seed: 1, path: join(dir, "125m.gguf")})
    expect(written.type).toBe("q8_0")

    const summary = await inspectModel(written.path)
    expect(summary.parameterCount).toBeGreaterThan(125e6 * 0.9)
    expect(summary.parameterCount).toBeLessThan(125e6 * 1.1)
    expect(summary.vocabularySize).toBe(32000)
    expect(summary).toMatchObject({
        architecture: "llama",
        fileTypeName: "MOSTLY_Q8_0",
        embeddingLength: 768,
        blockCount: 12,
        contextLength: 2048
    })
    // q8_0 is 34 bytes per 32 weights; the rest is the 32k-token vocabulary and headers.
    expect(summary.sizeBytes).toBeGreaterThan((summary.parameterCount * 34) / 32)
    expect(summary.sizeBytes).toBeLessThan((summary.parameterCount * 34) / 32 + 2e6)

    const margins = await measureModelMargins(written.path, {tokens: 16, prompt: "The quick brown fox"})
    expect(margins.steps).toHaveLength(16)
    expect(margins.exactTies).toBe(0)
    expect(margins.text.trim().split(/\s+/).length).toBeGreaterThan(8)
    expect(margins.medianTop1Probability).toBeGreaterThan(0.5)
}, 90_000)
