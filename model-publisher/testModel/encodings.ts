import { encodeF16 } from "./f16.ts"
import { encodeQ8_0, Q8_0_BLOCK_BYTES, Q8_0_BLOCK_VALUES } from "./q8_0.ts"

/** Precision of a test model's matrices (norm weights always stay f32, as in llama.cpp's own files). */
export type WeightType = "f32" | "f16" | "q8_0"

export const WEIGHT_TYPES: readonly WeightType[] = ["f32", "f16", "q8_0"]

/** How one precision is laid out in a GGUF file. */
export interface TensorEncoding {
  /** ggml's `ggml_type` id for tensor infos. */
  readonly ggmlType: number
  /** llama.cpp's `llama_ftype` id for `general.file_type` when the matrices use this encoding. */
  readonly fileType: number
  /** Bytes taken by `count` values. */
  byteLength(count: number): number
  /** Writes `values` into `target`, which is exactly `byteLength(values.length)` long. */
  encode(values: Float32Array, target: Uint8Array): void
}

// Through a DataView rather than a byte copy: GGUF is little-endian whatever the host is.
function encodeF32(values: Float32Array, target: Uint8Array): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
}

export const ENCODINGS: Readonly<Record<WeightType, TensorEncoding>> = {
  f32: {
    ggmlType: 0,
    fileType: 0,
    byteLength: (count) => count * 4,
    encode: encodeF32,
  },
  f16: { ggmlType: 1, fileType: 1, byteLength: (count) => count * 2, encode: encodeF16 },
  q8_0: {
    ggmlType: 8,
    fileType: 7,
    byteLength: (count) => (count / Q8_0_BLOCK_VALUES) * Q8_0_BLOCK_BYTES,
    encode: encodeQ8_0,
  },
}
