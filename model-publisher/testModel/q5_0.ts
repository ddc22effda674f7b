import {float32ToFloat16Bits} from "./f16.ts"
import {float16BitsToFloat32} from "./f16Decode.ts"

// q5_0 is never asked for: it is where llama.cpp puts a q4_K matrix whose rows are not a whole
// number of 256-value super-blocks (see `matrixTypeFor` in encodings.ts).

/** Values per q5_0 block. */
export const Q5_0_BLOCK_VALUES = 32
/** Bytes per q5_0 block: an f16 scale, the 32 fifth bits as a uint32, and 32 low nibbles. */
export const Q5_0_BLOCK_BYTES = 2 + 4 + Q5_0_BLOCK_VALUES / 2

const HALF = Q5_0_BLOCK_VALUES / 2

/**
 * Encodes `values` (a multiple of 32 long) as ggml q5_0 blocks into `target`, following
 * `quantize_row_q5_0_ref` in float32: scale = (signed value of largest magnitude) / -16, quants
 * `min(31, trunc(x / scale + 16.5))`; bit 4 of quant j goes to bit j of the uint32.
 */
export function encodeQ5_0(values: Float32Array, target: Uint8Array): void {
    if (values.length % Q5_0_BLOCK_VALUES !== 0)
        throw new RangeError(`q5_0 needs a multiple of ${Q5_0_BLOCK_VALUES} values, got ${values.length}`)
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let block = 0, out = 0; block < values.length; block += Q5_0_BLOCK_VALUES, out += Q5_0_BLOCK_BYTES) {
        let amax = 0
        let max = 0
        for (let i = 0; i < Q5_0_BLOCK_VALUES; i++) {
            const value = values[block + i]!
            if (amax < Math.abs(value)) {
                amax = Math.abs(value)
                max = value
            }
        }
        const scale = Math.fround(max / -16)
        const inverse = scale !== 0 ? Math.fround(1 / scale) : 0
        view.setUint16(out, float32ToFloat16Bits(scale), true)
        let highBits = 0
        for (let i = 0; i < HALF; i++) {
            const low = quant(Math.fround(values[block + i]! * inverse))
            const high = quant(Math.fround(values[block + HALF + i]! * inverse))
            target[out + 6 + i] = (low & 0x0f) | ((high & 0x0f) << 4)
            highBits |= ((low & 0x10) >> 4) << i
            highBits |= ((high & 0x10) >> 4) << (i + HALF)
        }
        view.setUint32(out + 2, highBits >>> 0, true)
    }
}

// C's `MIN(31, (int8_t)(x + 16.5f))` stored in a uint8_t (see q4_0.ts for the wrap-around).
function quant(scaled: number): number {
    return Math.min(31, (Math.trunc(Math.fround(scaled + 16.5)) << 24) >> 24) & 0xff
}

/** Decodes q5_0 blocks from `bytes` into `target` (a multiple of 32 long), as ggml's `dequantize_row_q5_0`. */
export function decodeQ5_0(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let block = 0, at = 0; block < target.length; block += Q5_0_BLOCK_VALUES, at += Q5_0_BLOCK_BYTES) {
        const scale = float16BitsToFloat32(view.getUint16(at, true))
        const highBits = view.getUint32(at + 2, true)
        for (let i = 0; i < HALF; i++) {
            const byte = bytes[at + 6 + i]!
            target[block + i] = (((byte & 0x0f) | (((highBits >>> i) << 4) & 0x10)) - 16) * scale
            target[block + HALF + i] = (((byte >> 4) | ((highBits >>> (i + 12)) & 0x10)) - 16) * scale
        }
    }
}
