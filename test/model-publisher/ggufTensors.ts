import {open} from "node:fs/promises"
import {readGgufFileInfo} from "node-llama-cpp"

// Test-side decoding of tensor data, written independently of the encoders and decoders under test:
// element by element from the block layouts in ggml-common.h, rather than block by block.

/** binary16 bits → number, straight from the IEEE 754 definition. */
export function float16BitsToNumber(bits: number): number {
    const sign = bits & 0x8000 ? -1 : 1
    const exponent = (bits >> 10) & 0x1f
    const mantissa = bits & 0x3ff
    if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
    if (exponent === 0) return sign * mantissa * 2 ** -24
    return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

// [values per block, bytes per block] by ggml type id: f32, f16, q4_0, q5_0, q8_0, q4_K.
const LAYOUTS: Readonly<Record<number, readonly [number, number]>> = {
    0: [1, 4],
    1: [1, 2],
    2: [32, 18],
    6: [32, 22],
    8: [32, 34],
    12: [256, 144]
}

/** One tensor's info and its raw bytes. */
export async function readTensorBytes(
    path: string,
    name: string
): Promise<{ggmlType: number; dims: number[]; count: number; bytes: Buffer}> {
    const info = await readGgufFileInfo(path, {logWarnings: false})
    const tensor = info.tensorInfo?.find((candidate) => candidate.name === name)
    if (tensor === undefined) throw new Error(`no tensor ${name}`)
    const dims = tensor.dimensions.map(Number)
    const count = dims.reduce((product, dim) => product * dim, 1)
    const layout = LAYOUTS[tensor.ggmlType]
    if (layout === undefined) throw new Error(`unsupported ggml type ${tensor.ggmlType}`)
    const bytes = Buffer.alloc((count / layout[0]) * layout[1])
    const handle = await open(path)
    try {
        await handle.read(bytes, 0, bytes.length, Number(tensor.fileOffset))
    } finally {
        await handle.close()
    }
    return {ggmlType: tensor.ggmlType, dims, count, bytes}
}

/** Reads and dequantizes one f32, f16, q8_0, q4_0, q5_0 or q4_K tensor from a GGUF file. */
export async function readTensor(path: string, name: string): Promise<{ggmlType: number; values: Float32Array}> {
    const {ggmlType, count, bytes} = await readTensorBytes(path, name)
    return {ggmlType, values: decodeTensor(ggmlType, bytes, count)}
}

/**
 * Decodes `count` values of ggml type `ggmlType`. Quantized values are computed in float32 the way
 * ggml's dequantize_row_* computes them (scale times quant, then minus the min), so they can be
 * compared exactly.
 */
export function decodeTensor(ggmlType: number, bytes: Uint8Array, count: number): Float32Array {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const half = (at: number) => float16BitsToNumber(view.getUint16(at, true))
    const values = new Float32Array(count)
    for (let i = 0; i < count; i++) {
        if (ggmlType === 0) values[i] = view.getFloat32(i * 4, true)
        else if (ggmlType === 1) values[i] = half(i * 2)
        else if (ggmlType === 8) {
            const block = (i >> 5) * 34
            values[i] = half(block) * view.getInt8(block + 2 + (i & 31))
        } else if (ggmlType === 2) {
            // Byte k of the 16 holds element k in its low nibble and element k + 16 in its high one.
            const block = (i >> 5) * 18
            const j = i & 31
            const nibble = (bytes[block + 2 + (j & 15)]! >> (j < 16 ? 0 : 4)) & 0xf
            values[i] = (nibble - 8) * half(block)
        } else if (ggmlType === 6) {
            // As q4_0, plus a fifth bit for element j at bit j of the little-endian uint32 after the scale.
            const block = (i >> 5) * 22
            const j = i & 31
            const nibble = (bytes[block + 6 + (j & 15)]! >> (j < 16 ? 0 : 4)) & 0xf
            const fifth = (view.getUint32(block + 2, true) >>> j) & 1
            values[i] = ((nibble | (fifth << 4)) - 16) * half(block)
        } else if (ggmlType === 12) values[i] = q4KValue(bytes, half, i)
        else throw new Error(`unsupported ggml type ${ggmlType}`)
    }
    return values
}

// Element i of a q4_K tensor: super-block of 256 = d, dmin, 12 bytes of scales, 128 bytes of
// nibbles. Sub-block s (32 values) has a 6-bit scale and min; elements 64c..64c+31 are the low
// nibbles of quant bytes 32c..32c+31 and elements 64c+32..64c+63 their high nibbles.
function q4KValue(bytes: Uint8Array, half: (at: number) => number, i: number): number {
    const block = Math.floor(i / 256) * 144
    const k = i % 256
    const s = k >> 5
    // Sub-blocks 0-3: 6 bits of bytes 0-3 (scales) and 4-7 (mins). Sub-blocks 4-7: low 4 bits in
    // bytes 8-11 (scale low, min high nibble), top 2 bits in the top bits of bytes 0-3 and 4-7.
    const sc = bytes.subarray(block + 4, block + 16)
    const scale = s < 4 ? sc[s]! & 63 : (sc[s + 4]! & 0xf) | ((sc[s - 4]! >> 6) << 4)
    const min = s < 4 ? sc[s + 4]! & 63 : (sc[s + 4]! >> 4) | ((sc[s]! >> 6) << 4)
    const quant = (bytes[block + 16 + (k >> 6) * 32 + (k & 31)]! >> ((k & 32) !== 0 ? 4 : 0)) & 0xf
    const f = Math.fround
    return f(f(f(half(block) * scale) * quant) - f(half(block + 2) * min))
}
