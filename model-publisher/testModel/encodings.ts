import {encodeF16} from "./f16.ts"
import {decodeF16, float16BitsToFloat32} from "./f16Decode.ts"
import {decodeQ4_0, encodeQ4_0, Q4_0_BLOCK_BYTES, Q4_0_BLOCK_VALUES} from "./q4_0.ts"
import {decodeQ4_K, encodeQ4_K, Q4_K_BLOCK_BYTES, Q4_K_BLOCK_VALUES} from "./q4_K.ts"
import {decodeQ5_0, encodeQ5_0, Q5_0_BLOCK_BYTES, Q5_0_BLOCK_VALUES} from "./q5_0.ts"
import {encodeQ8_0, Q8_0_BLOCK_BYTES, Q8_0_BLOCK_VALUES} from "./q8_0.ts"

/** Precision of a model's matrices (norm weights always stay f32, as in llama.cpp's own files). */
export type WeightType = "f32" | "f16" | "q8_0" | "q4_0" | "q4_K"

/** From most to least precise. */
export const WEIGHT_TYPES: readonly WeightType[] = ["f32", "f16", "q8_0", "q4_0", "q4_K"]

/** A tensor type this package reads and writes: the weight types, and q5_0 which only stands in for q4_K. */
export type TensorType = WeightType | "q5_0"

/** How one tensor type is laid out in a GGUF file. */
export interface TensorEncoding {
    /** ggml's `ggml_type` id for tensor infos. */
    readonly ggmlType: number
    /** llama.cpp's `llama_ftype` id for `general.file_type` when the matrices use this encoding. */
    readonly fileType: number
    /** Values per block: a row must hold a whole number of them. */
    readonly blockValues: number
    /** Bytes taken by `count` values. */
    byteLength(count: number): number
    /** Writes `values` into `target`, which is exactly `byteLength(values.length)` long. */
    encode(values: Float32Array, target: Uint8Array): void
    /** Reads `target.length` values from `bytes`, which is exactly `byteLength(target.length)` long, as ggml's `dequantize_row_*`. */
    decode(bytes: Uint8Array, target: Float32Array): void
}

// Through a DataView rather than a byte copy: GGUF is little-endian whatever the host is.
function encodeF32(values: Float32Array, target: Uint8Array): void {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
}

function decodeF32(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < target.length; i++) target[i] = view.getFloat32(i * 4, true)
}

// q8_0.ts predates decoding; ggml's dequantize_row_q8_0 is one float32 product per value.
function decodeQ8_0(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let block = 0, at = 0; block < target.length; block += Q8_0_BLOCK_VALUES, at += Q8_0_BLOCK_BYTES) {
        const scale = float16BitsToFloat32(view.getUint16(at, true))
        for (let i = 0; i < Q8_0_BLOCK_VALUES; i++) target[block + i] = view.getInt8(at + 2 + i) * scale
    }
}

const blocks = (values: number, bytes: number) => (count: number) => (count / values) * bytes

export const ENCODINGS: Readonly<Record<TensorType, TensorEncoding>> = {
    f32: {ggmlType: 0, fileType: 0, blockValues: 1, byteLength: (count) => count * 4, encode: encodeF32, decode: decodeF32},
    f16: {ggmlType: 1, fileType: 1, blockValues: 1, byteLength: (count) => count * 2, encode: encodeF16, decode: decodeF16},
    q8_0: {
        ggmlType: 8,
        fileType: 7,
        blockValues: Q8_0_BLOCK_VALUES,
        byteLength: blocks(Q8_0_BLOCK_VALUES, Q8_0_BLOCK_BYTES),
        encode: encodeQ8_0,
        decode: decodeQ8_0
    },
    q4_0: {
        ggmlType: 2,
        fileType: 2,
        blockValues: Q4_0_BLOCK_VALUES,
        byteLength: blocks(Q4_0_BLOCK_VALUES, Q4_0_BLOCK_BYTES),
        encode: encodeQ4_0,
        decode: decodeQ4_0
    },
    // MOSTLY_Q4_K_S rather than _M: _S is the mix whose matrices are (nearly) all q4_K; _M puts half
    // of attn_v and ffn_down in q6_K. Neither mix's higher-precision exceptions are applied here.
    q4_K: {
        ggmlType: 12,
        fileType: 14,
        blockValues: Q4_K_BLOCK_VALUES,
        byteLength: blocks(Q4_K_BLOCK_VALUES, Q4_K_BLOCK_BYTES),
        encode: encodeQ4_K,
        decode: decodeQ4_K
    },
    q5_0: {
        ggmlType: 6,
        fileType: 8,
        blockValues: Q5_0_BLOCK_VALUES,
        byteLength: blocks(Q5_0_BLOCK_VALUES, Q5_0_BLOCK_BYTES),
        encode: encodeQ5_0,
        decode: decodeQ5_0
    }
}

/** The tensor type with ggml type id `ggmlType`, if it is one of ours. */
export function tensorTypeOf(ggmlType: number): TensorType | undefined {
    return (Object.keys(ENCODINGS) as TensorType[]).find((type) => ENCODINGS[type].ggmlType === ggmlType)
}

/**
 * The type a matrix with rows of `rowLength` values is stored in when the file's type is `type`:
 * llama.cpp's `tensor_type_fallback`. A row must be a whole number of blocks, so q4_K rows that are
 * not a multiple of 256 fall back to q5_0 (32-value blocks, one bit more), and rows that are not a
 * multiple of 32 fall back to f16 from any block type.
 */
export function matrixTypeFor(type: WeightType, rowLength: number): TensorType {
    if (rowLength % ENCODINGS[type].blockValues === 0) return type
    if (type === "q4_K" && rowLength % ENCODINGS.q5_0.blockValues === 0) return "q5_0"
    return "f16"
}
