import {copyFile, mkdtemp, readFile, rm, stat, truncate, writeFile} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {readGgufFileInfo} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {ConvertError, convertModel} from "../../model-publisher/convert/index.ts"
import {writeTestModel} from "../../model-publisher/index.ts"
import {ENCODINGS, type TensorType, type WeightType} from "../../model-publisher/testModel/encodings.ts"
import {writeGguf} from "../../model-publisher/testModel/ggufWriter.ts"
import type {Sampling} from "../../sdk/receipt/index.ts"
import {InferenceEngine} from "../../worker/engine/index.ts"
import {decodeTensor, readTensorBytes} from "./ggufTensors.ts"
import {firstDifference} from "./quantVectors.ts"

// Relative RMS error of a matrix against the f32 original; the worst matrix of tiny (seed 5)
// measured f16 2.1e-4, q8_0 5.2e-3, q5_0 0.042, q4_K 0.069 (256-wide rows), q4_0 0.083 (the same
// after f16 and q8_0 first).
const TOLERANCE: Readonly<Record<TensorType, number>> = {f32: 0, f16: 1e-3, q8_0: 0.01, q5_0: 0.045, q4_K: 0.075, q4_0: 0.09}
// Tiny with 256-wide rows: every matrix fits q4_K's 256-value super-blocks.
const WIDE = {embeddingLength: 256, feedForwardLength: 512}
const greedy: Sampling = {maxTokens: 8, temperature: "0", topK: 40, topP: "1", seed: 0}

let dir: string
let tiny: string
let wide: string
beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-convert-"))
    tiny = (await writeTestModel({preset: "tiny", seed: 5, type: "f32", path: join(dir, "tiny-f32.gguf")})).path
    wide = (await writeTestModel({preset: "tiny", shape: WIDE, seed: 5, type: "f32", path: join(dir, "wide-f32.gguf")})).path
})
afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
})

const convert = (input: string, type: WeightType, name: string) => convertModel({input, output: join(dir, name), type})
// The conversions the tests share, each made once by whichever test needs it first.
const made = new Map<string, ReturnType<typeof convert>>()
const converted = (name: string, make: () => ReturnType<typeof convert>) => made.get(name) ?? made.set(name, make()).get(name)!
const chain = (type: "f16" | "q8_0" | "q4_0"): ReturnType<typeof convert> =>
    converted(`chain-${type}`, async () => {
        const input = type === "f16" ? tiny : (await chain(type === "q8_0" ? "f16" : "q8_0")).path
        return convert(input, type, `chain-${type}.gguf`)
    })
const tinyQ4K = () => converted("tiny-q4_K", () => convert(tiny, "q4_K", "tiny-q4_K.gguf"))
const wideQ4K = () => converted("wide-q4_K", () => convert(wide, "q4_K", "wide-q4_K.gguf"))
const info = (path: string) => readGgufFileInfo(path, {logWarnings: false})
const isNorm = (name: string) => name.endsWith("_norm.weight")

/** Checks `converted` against its f32 `original`: same metadata but the file type, norms byte for byte, matrices within tolerance. */
async function expectFaithful(original: string, converted: string, matrixType: TensorType, fileType: number) {
    const [before, after] = await Promise.all([info(original), info(converted)])
    expect(after.metadata).toEqual({...before.metadata, general: {...before.metadata.general, file_type: fileType}})
    const shapes = (tensors: typeof before.tensorInfo) => tensors!.map(({name, dimensions}) => [name, dimensions])
    expect(shapes(after.tensorInfo)).toEqual(shapes(before.tensorInfo))
    for (const {name, ggmlType} of after.tensorInfo!) {
        const [source, result] = await Promise.all([readTensorBytes(original, name), readTensorBytes(converted, name)])
        if (isNorm(name)) {
            expect(ggmlType, name).toBe(0)
            expect(result.bytes.equals(source.bytes), name).toBe(true)
        } else {
            expect(ggmlType, name).toBe(ENCODINGS[matrixType].ggmlType)
            const expected = decodeTensor(0, source.bytes, source.count)
            const actual = decodeTensor(ggmlType, result.bytes, result.count)
            let error = 0
            let energy = 0
            expected.forEach((value, i) => {
                error += (actual[i]! - value) ** 2
                energy += value ** 2
            })
            expect(Math.sqrt(error / energy), name).toBeLessThan(TOLERANCE[matrixType])
        }
    }
    expect((await stat(converted)).size).toBeGreaterThan(0)
}

describe("convertModel", () => {
    it("converts tiny f32 → f16 → q8_0 → q4_0, keeping metadata, tokenizer, tensor order and norms", async () => {
        for (const type of ["f16", "q8_0", "q4_0"] as const) {
            const result = await chain(type)
            expect(result).toEqual({path: join(dir, `chain-${type}.gguf`), type, sizeBytes: (await stat(result.path)).size, fallbacks: []})
            await expectFaithful(tiny, result.path, type, ENCODINGS[type].fileType)
        }
    })

    it("writes f32 → q8_0, q4_0 and q4_K files identical to writeTestModel's", async () => {
        for (const [input, type, shape] of [
            [tiny, "q8_0", undefined],
            [tiny, "q4_0", undefined],
            [wide, "q4_K", WIDE]
        ] as const) {
            const result = await convert(input, type, `same-${type}.gguf`)
            const written = await writeTestModel({preset: "tiny", shape, seed: 5, type, path: join(dir, `written-${type}.gguf`)})
            expect((await readFile(result.path)).equals(await readFile(written.path)), type).toBe(true)
        }
    })

    it("keeps tiny's 64- and 128-wide rows in q5_0 for q4_K, as llama.cpp's quantizer does", async () => {
        const result = await tinyQ4K()
        const matrices = (await info(tiny)).tensorInfo!.filter(({name}) => !isNorm(name)).map(({name}) => ({name, type: "q5_0"}))
        expect(result.fallbacks).toEqual(matrices)
        // The file still says what was asked for, as llama.cpp's q4_K files with fallbacks do.
        await expectFaithful(tiny, result.path, "q5_0", ENCODINGS.q4_K.fileType)
    })

    it("converts 256-wide rows to q4_K, and back to f32 exactly as ggml's dequantize_row_q4_K", async () => {
        const quantized = await wideQ4K()
        expect(quantized.fallbacks).toEqual([])
        await expectFaithful(wide, quantized.path, "q4_K", 14)
        const restored = await convert(quantized.path, "f32", "wide-restored.gguf")
        for (const {name} of (await info(wide)).tensorInfo!.filter(({name}) => !isNorm(name))) {
            const [source, result] = await Promise.all([readTensorBytes(quantized.path, name), readTensorBytes(restored.path, name)])
            const decoded = decodeTensor(12, source.bytes, source.count)
            expect(firstDifference(decodeTensor(0, result.bytes, result.count), decoded), name).toBe(-1)
        }
    })

    it("writes files that node-llama-cpp loads and generates from greedily", async () => {
        const engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
        try {
            for (const file of [chain("f16"), chain("q8_0"), chain("q4_0"), tinyQ4K(), wideQ4K()]) {
                const {path} = await file
                const model = await engine.loadModel(path, {contextSize: 64})
                try {
                    const generation = await model.generate({prompt: "The river", format: "text", sampling: greedy})
                    expect(generation.outputTokens, path).toHaveLength(8)
                    expect(generation.output.trim().split(/\s+/).length, path).toBeGreaterThanOrEqual(4)
                } finally {
                    await model.dispose()
                }
            }
        } finally {
            await engine.dispose()
        }
    })

    it("carries metadata values over with their own GGUF types, and the input's alignment", async () => {
        // u8 7, i64 -2, f64 0.1, and an array of two u16 arrays: types llama.cpp files use and the test writer does not.
        const raw = (hex: string) => ({type: "raw", bytes: Buffer.from(hex, "hex")}) as const
        const entries = [
            ["test.u8", raw("0000000007")],
            ["test.i64", raw("0b000000" + "feffffffffffffff")],
            ["test.f64", raw("0c000000" + "9a9999999999b93f")],
            [
                "test.nested",
                raw(
                    "09000000" +
                        "09000000" +
                        "0200000000000000" +
                        "02000000" +
                        "0100000000000000" +
                        "0500" +
                        "02000000" +
                        "0000000000000000"
                )
            ]
        ] as const
        const input = join(dir, "typed.gguf")
        await writeGguf(input, {
            alignment: 64,
            metadata: [["general.architecture", {type: "string", value: "llama"}], ...entries],
            tensors: [f32Tensor("blk.0.attn_q.weight", [32, 2]), f32Tensor("blk.0.attn_norm.weight", [32])]
        })
        const output = (await convert(input, "q8_0", "typed-q8_0.gguf")).path
        const bytes = await readFile(output)
        for (const [key, value] of entries) {
            const entry = Buffer.concat([u64(key.length), Buffer.from(key), value.bytes])
            expect(bytes.indexOf(entry), key).toBeGreaterThan(0)
        }
        const converted = await info(output)
        expect(converted.metadata.general).toMatchObject({alignment: 64, file_type: 7, quantization_version: 2})
        expect(converted.tensorInfo!.map(({ggmlType}) => ggmlType)).toEqual([8, 0])
        for (const tensor of converted.tensorInfo!) expect(Number(tensor.fileOffset) % 64).toBe(0)
    })

    it("refuses input it cannot read with one ConvertError", async () => {
        const notGguf = join(dir, "not.gguf")
        await writeGguf(join(dir, "q6_K.gguf"), {
            metadata: [["general.architecture", {type: "string", value: "llama"}]],
            tensors: [
                {
                    name: "output.weight",
                    dims: [256, 1],
                    ggmlType: 14,
                    byteLength: 210,
                    *data() {
                        yield new Uint8Array(210)
                    }
                }
            ]
        })
        await copyFile(tiny, join(dir, "truncated.gguf"))
        await truncate(join(dir, "truncated.gguf"), 100_000)
        await writeFile(notGguf, (await readFile(tiny)).subarray(4))
        await expect(convert(notGguf, "q4_0", "out.gguf")).rejects.toThrow(ConvertError)
        await expect(convert(join(dir, "q6_K.gguf"), "q4_0", "out.gguf")).rejects.toThrow(/output\.weight is Q6_K/)
        await expect(convert(join(dir, "truncated.gguf"), "q4_0", "out.gguf")).rejects.toThrow(/truncated/)
        await expect(stat(join(dir, "out.gguf"))).rejects.toThrow()
    })
})

function f32Tensor(name: string, dims: number[]) {
    const count = dims.reduce((a, b) => a * b, 1)
    const values = Float32Array.from({length: count}, (_, i) => Math.sin(i))
    return {
        name,
        dims,
        ggmlType: 0,
        byteLength: count * 4,
        *data() {
            yield new Uint8Array(values.buffer)
        }
    }
}

function u64(value: number): Buffer {
    const bytes = Buffer.alloc(8)
    bytes.writeBigUInt64LE(BigInt(value))
    return bytes
}
