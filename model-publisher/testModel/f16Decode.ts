// binary16 → float32, the other direction from f16.ts. Every binary16 value is exact in float32,
// so a table of all 65536 patterns (as ggml's own CPU backend keeps) answers every lookup exactly.

const TABLE = new Float32Array(1 << 16)
for (let bits = 0; bits < TABLE.length; bits++) {
    const sign = bits & 0x8000 ? -1 : 1
    const exponent = (bits >> 10) & 0x1f
    const mantissa = bits & 0x3ff
    if (exponent === 0x1f) TABLE[bits] = mantissa === 0 ? sign * Infinity : NaN
    else if (exponent === 0) TABLE[bits] = sign * mantissa * 2 ** -24
    else TABLE[bits] = sign * (1024 + mantissa) * 2 ** (exponent - 25)
}

/** The float32 value of a binary16 bit pattern (ggml's `GGML_FP16_TO_FP32`). */
export function float16BitsToFloat32(bits: number): number {
    return TABLE[bits & 0xffff]!
}

/** Decodes little-endian binary16 values from `bytes` into `target` (2 bytes per value). */
export function decodeF16(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < target.length; i++) target[i] = TABLE[view.getUint16(i * 2, true)]!
}
