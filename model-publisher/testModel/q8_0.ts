import {float32ToFloat16Bits} from "./f16.ts"

/** Values per q8_0 block. */
export const Q8_0_BLOCK_VALUES = 32
/** Bytes per q8_0 block: an f16 scale and 32 int8 quants. */
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK_VALUES

/**
 * Encodes `values` (a multiple of 32 long) as ggml q8_0 blocks into `target`.
 *
 * Follows ggml's `quantize_row_q8_0_ref` step by step in float32 (scale = amax / 127,
 * quants = roundf(x * (1 / scale)), half away from zero) so the bytes equal what
 * llama-quantize would write for the same weights.
 */
export function encodeQ8_0(values: Float32Array, target: Uint8Array): void {
    if (values.length % Q8_0_BLOCK_VALUES !== 0)
        throw new RangeError(`q8_0 needs a multiple of ${Q8_0_BLOCK_VALUES} values, got ${values.length}`)
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let block = 0, out = 0; block < values.length; block += Q8_0_BLOCK_VALUES, out += Q8_0_BLOCK_BYTES) {
        let amax = 0
        for (let i = 0; i < Q8_0_BLOCK_VALUES; i++) amax = Math.max(amax, Math.abs(values[block + i]!))
        const scale = Math.fround(amax / 127)
        const inverse = scale !== 0 ? Math.fround(1 / scale) : 0
        view.setUint16(out, float32ToFloat16Bits(scale), true)
        for (let i = 0; i < Q8_0_BLOCK_VALUES; i++) {
            const scaled = Math.fround(values[block + i]! * inverse)
            view.setInt8(out + 2 + i, scaled < 0 ? -Math.round(-scaled) : Math.round(scaled))
        }
    }
}
