import {createHash} from "node:crypto"
import {mkdtemp, readdir, readFile, rm, stat} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {writeTestModel, type WriteTestModelOptions} from "../../model-publisher/index.ts"
import {float32ToFloat16Bits} from "../../model-publisher/testModel/f16.ts"
import {float16BitsToNumber, readTensor} from "./ggufTensors.ts"

let dir: string
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-testmodel-"))
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

const write = (name: string, options: Omit<WriteTestModelOptions, "path">) => writeTestModel({...options, path: join(dir, name)})
const sha256 = async (path: string) =>
    createHash("sha256")
        .update(await readFile(path))
        .digest("hex")

describe("writeTestModel", () => {
    it("is deterministic: same seed, same bytes; another seed, other bytes", async () => {
        const a = await write("a.gguf", {preset: "tiny", seed: 1})
        const b = await write("sub/b.gguf", {preset: "tiny", seed: 1})
        const c = await write("c.gguf", {preset: "tiny", seed: 2})
        expect(await sha256(b.path)).toBe(await sha256(a.path))
        expect(await sha256(c.path)).not.toBe(await sha256(a.path))
    })

    // A published test model is named by its hash and regenerated from (preset, seed, type):
    // a change here breaks every published one, so it must be deliberate.
    it.each([
        ["f32", "88d25029c70915bb8230e688062a042e571bdaef157094d5c9f9514de1d688e3"],
        ["f16", "0cb4ec0308285596e074c49aab74ed1c380ced4e0f6ca1d97f1fc6018b2b96da"],
        ["q8_0", "7f520ec8e356791b641f81fa7c2ddc3bf5852e11206101dfaf220d1c2cff7bfe"]
    ] as const)("still writes the known bytes for tiny, seed 1, %s", async (type, hash) => {
        expect(await sha256((await write(`golden-${type}.gguf`, {preset: "tiny", seed: 1, type})).path)).toBe(hash)
    })

    it("keeps the tiny preset under 1 MB in every precision and reports the real size", async () => {
        for (const type of ["f32", "f16", "q8_0"] as const) {
            const model = await write(`tiny-${type}.gguf`, {preset: "tiny", seed: 3, type})
            expect(model.type).toBe(type)
            expect(model.sizeBytes).toBe((await stat(model.path)).size)
            expect(model.sizeBytes).toBeLessThan(1_000_000)
        }
    })

    it("uses each preset's default precision", async () => {
        expect((await write("tiny-default.gguf", {preset: "tiny", seed: 1})).type).toBe("f32")
        expect((await write("small-default.gguf", {preset: "small", seed: 1})).type).toBe("f16")
    })

    it("stores the same weights in f32, f16 and q8_0, norms always in f32", async () => {
        const paths = {
            f32: (await write("w-f32.gguf", {preset: "small", seed: 9, type: "f32"})).path,
            f16: (await write("w-f16.gguf", {preset: "small", seed: 9, type: "f16"})).path,
            q8_0: (await write("w-q8.gguf", {preset: "small", seed: 9, type: "q8_0"})).path
        }
        for (const name of ["token_embd.weight", "blk.1.attn_k.weight", "output.weight"]) {
            const f32 = await readTensor(paths.f32, name)
            const f16 = await readTensor(paths.f16, name)
            const q8 = await readTensor(paths.q8_0, name)
            expect([f32.ggmlType, f16.ggmlType, q8.ggmlType]).toEqual([0, 1, 8])
            expect(f16.values.every((x, i) => x === float16BitsToNumber(float32ToFloat16Bits(f32.values[i]!)))).toBe(true)
            // Half a step, plus the f16 rounding of the scale (relative 2^-11) times up to 127 steps.
            let worstRatio = 0
            for (let block = 0; block < f32.values.length; block += 32) {
                let amax = 0
                let worst = 0
                for (let i = block; i < block + 32; i++) {
                    amax = Math.max(amax, Math.abs(f32.values[i]!))
                    worst = Math.max(worst, Math.abs(f32.values[i]! - q8.values[i]!))
                }
                worstRatio = Math.max(worstRatio, worst / (amax / 127))
            }
            expect(worstRatio).toBeGreaterThan(0.4)
            expect(worstRatio).toBeLessThanOrEqual(0.5 + 127 * 2 ** -11)
        }
        for (const path of Object.values(paths)) {
            const norm = await readTensor(path, "blk.0.ffn_norm.weight")
            expect(norm.ggmlType).toBe(0)
            expect(norm.values.every((x) => x === 1)).toBe(true)
        }
    })

    it("draws weights with std 1/sqrt(fan_in) and a wider output projection", async () => {
        const path = (await write("stats.gguf", {preset: "small", seed: 4, type: "f32"})).path
        const std = (values: Float32Array) => Math.sqrt(values.reduce((sum, x) => sum + x * x, 0) / values.length)
        expect(std((await readTensor(path, "blk.0.ffn_down.weight")).values)).toBeCloseTo(1 / Math.sqrt(384), 2)
        expect(std((await readTensor(path, "blk.0.attn_q.weight")).values)).toBeCloseTo(1 / Math.sqrt(128), 2)
        expect(std((await readTensor(path, "output.weight")).values)).toBeGreaterThan(5 / Math.sqrt(128))
    })

    it("reports progress up to the full size", async () => {
        const seen: number[] = []
        const model = await write("progress.gguf", {
            preset: "small",
            seed: 5,
            onProgress: ({bytesWritten, totalBytes}) => {
                expect(totalBytes).toBeGreaterThan(0)
                seen.push(bytesWritten)
            }
        })
        expect(seen.length).toBeGreaterThan(2)
        expect(seen).toEqual([...seen].sort((a, b) => a - b))
        expect(seen.at(-1)).toBe(model.sizeBytes)
    })

    it("rejects bad options before touching the disk", async () => {
        const before = await readdir(dir)
        await expect(write("bad1.gguf", {preset: "huge" as "tiny", seed: 1})).rejects.toThrow(/unknown preset/)
        await expect(write("bad2.gguf", {preset: "tiny", seed: 1, type: "q3_K" as "f32"})).rejects.toThrow(/unknown weight type/)
        await expect(write("bad3.gguf", {preset: "tiny", seed: -3})).rejects.toThrow(/seed/)
        expect(await readdir(dir)).toEqual(before)
    })
})
