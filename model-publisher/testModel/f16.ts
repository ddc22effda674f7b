// IEEE 754 binary16 conversion, written out because Node 20 has no Float16Array and
// ggml's f16 tensors and q8_0 scales must round exactly as ggml does (nearest, ties to even).

const f32 = new Float32Array(1)
const f32Bits = new Uint32Array(f32.buffer)

/** The binary16 bit pattern nearest to `value` (after rounding `value` to float32), ties to even. */
export function float32ToFloat16Bits(value: number): number {
    f32[0] = value
    return float32BitsToFloat16Bits(f32Bits[0]!)
}

/** Same as {@link float32ToFloat16Bits}, from the float32 bit pattern (avoids a round trip in bulk loops). */
export function float32BitsToFloat16Bits(bits: number): number {
    const sign = (bits >>> 16) & 0x8000
    const exponent = (bits >>> 23) & 0xff
    const mantissa = bits & 0x7fffff

    if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0)

    const halfExponent = exponent - 127 + 15
    if (halfExponent >= 0x1f) return sign | 0x7c00

    if (halfExponent <= 0) {
        // Subnormal result: count in units of 2^-24 and round away the shifted-out bits.
        const shift = 14 - halfExponent
        if (shift > 24) return sign
        const significand = mantissa | 0x800000
        const kept = significand >>> shift
        const rest = significand & ((1 << shift) - 1)
        const half = 1 << (shift - 1)
        return sign | (kept + (rest > half || (rest === half && (kept & 1) === 1) ? 1 : 0))
    }

    const kept = (halfExponent << 10) | (mantissa >>> 13)
    const rest = mantissa & 0x1fff
    // A carry out of the mantissa correctly bumps the exponent, up to infinity.
    return sign | (kept + (rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? 1 : 0))
}

/** Encodes `values` as little-endian binary16 into `target` (2 bytes per value). */
export function encodeF16(values: Float32Array, target: Uint8Array): void {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let i = 0; i < bits.length; i++) view.setUint16(i * 2, float32BitsToFloat16Bits(bits[i]!), true)
}
