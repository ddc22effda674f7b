import {float32ToFloat16Bits} from "./f16.ts"
import {float16BitsToFloat32} from "./f16Decode.ts"

/** Values per q4_0 block. */
export const Q4_0_BLOCK_VALUES = 32
/** Bytes per q4_0 block: an f16 scale and 32 4-bit quants, two to a byte. */
export const Q4_0_BLOCK_BYTES = 2 + Q4_0_BLOCK_VALUES / 2

const HALF = Q4_0_BLOCK_VALUES / 2

/**
 * Encodes `values` (a multiple of 32 long) as ggml q4_0 blocks into `target`.
 *
 * Follows ggml's `quantize_row_q4_0_ref` in float32 step by step: the scale is the signed value of
 * largest magnitude divided by -8 (so that value maps to quant 0 and the range is used
 * asymmetrically), quants are `min(15, trunc(x / scale + 8.5))`, and byte j holds value j in its
 * low nibble and value j + 16 in its high nibble. The bytes equal llama-quantize's without an
 * importance matrix.
 */
export function encodeQ4_0(values: Float32Array, target: Uint8Array): void {
    if (values.length % Q4_0_BLOCK_VALUES !== 0)
        throw new RangeError(`q4_0 needs a multiple of ${Q4_0_BLOCK_VALUES} values, got ${values.length}`)
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let block = 0, out = 0; block < values.length; block += Q4_0_BLOCK_VALUES, out += Q4_0_BLOCK_BYTES) {
        // The first of equal magnitudes wins, as in ggml's strict `amax < |v|`.
        let amax = 0
        let max = 0
        for (let i = 0; i < Q4_0_BLOCK_VALUES; i++) {
            const value = values[block + i]!
            if (amax < Math.abs(value)) {
                amax = Math.abs(value)
                max = value
            }
        }
        const scale = Math.fround(max / -8)
        const inverse = scale !== 0 ? Math.fround(1 / scale) : 0
        view.setUint16(out, float32ToFloat16Bits(scale), true)
        for (let i = 0; i < HALF; i++) {
            const low = quant(Math.fround(values[block + i]! * inverse))
            const high = quant(Math.fround(values[block + HALF + i]! * inverse))
            target[out + 2 + i] = low | (high << 4)
        }
    }
}

// C's `MIN(15, (int8_t)(x + 8.5f))` stored in a uint8_t: truncation toward zero, then int8 and
// uint8 wrap-around. Finite weights never go below 0; the wrap keeps NaN and infinities agreeing too.
function quant(scaled: number): number {
    return Math.min(15, (Math.trunc(Math.fround(scaled + 8.5)) << 24) >> 24) & 0xff
}

/** Decodes q4_0 blocks from `bytes` into `target` (a multiple of 32 long), as ggml's `dequantize_row_q4_0`. */
export function decodeQ4_0(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let block = 0, at = 0; block < target.length; block += Q4_0_BLOCK_VALUES, at += Q4_0_BLOCK_BYTES) {
        const scale = float16BitsToFloat32(view.getUint16(at, true))
        for (let i = 0; i < HALF; i++) {
            const byte = bytes[at + 2 + i]!
            target[block + i] = ((byte & 0x0f) - 8) * scale
            target[block + HALF + i] = ((byte >> 4) - 8) * scale
        }
    }
}
