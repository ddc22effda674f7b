import {float32ToFloat16Bits} from "./f16.ts"
import {float16BitsToFloat32} from "./f16Decode.ts"

/** Values per q4_K super-block: 8 sub-blocks of 32. */
export const Q4_K_BLOCK_VALUES = 256
/** Bytes per q4_K super-block: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles. */
export const Q4_K_BLOCK_BYTES = 2 + 2 + 12 + Q4_K_BLOCK_VALUES / 2

const SUB_BLOCK = 32
const SUB_BLOCKS = Q4_K_BLOCK_VALUES / SUB_BLOCK
const SCALES_AT = 4
const QUANTS_AT = 16

// make_qkx2_quants' search as quantize_row_q4_K_ref calls it: 21 candidate scales from
// (15 - 1) / range up to (15 + 1) / range, squared (not absolute) error.
const NMAX = 15
const RMIN = -1
const RDELTA = Math.fround(0.1)
const NSTEP = 20

// Scratch for one super-block; encoding is synchronous, so one set serves every call.
const levels = new Uint8Array(Q4_K_BLOCK_VALUES)
const candidate = new Uint8Array(SUB_BLOCK)
const weights = new Float32Array(SUB_BLOCK)
const scales = new Float32Array(SUB_BLOCKS)
const mins = new Float32Array(SUB_BLOCKS)

/**
 * Encodes `values` (a multiple of 256 long) as ggml q4_K super-blocks into `target`.
 *
 * A port of ggml's `quantize_row_q4_K_ref` (what llama-quantize runs without an importance
 * matrix): each 32-value sub-block gets a scale and a min from `make_qkx2_quants`' weighted
 * least-squares search, both are quantized to 6 bits against the super-block's f16 `d` and `dmin`
 * and packed as `get_scale_min_k4` reads them, and the values are then re-quantized against those
 * stored scales. Every operation rounds to float32 as the C does (see `nearestInt` for the one
 * rounding that is not JavaScript's), so the bytes are ggml's.
 */
export function encodeQ4_K(values: Float32Array, target: Uint8Array): void {
    if (values.length % Q4_K_BLOCK_VALUES !== 0)
        throw new RangeError(`q4_K needs a multiple of ${Q4_K_BLOCK_VALUES} values, got ${values.length}`)
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    for (let block = 0, out = 0; block < values.length; block += Q4_K_BLOCK_VALUES, out += Q4_K_BLOCK_BYTES) {
        let maxScale = 0
        let maxMin = 0
        for (let j = 0; j < SUB_BLOCKS; j++) {
            const start = block + j * SUB_BLOCK
            let sumSquares = 0
            for (let i = 0; i < SUB_BLOCK; i++) sumSquares = Math.fround(sumSquares + Math.fround(values[start + i]! * values[start + i]!))
            const rms = Math.fround(Math.sqrt(Math.fround(sumSquares / SUB_BLOCK)))
            for (let i = 0; i < SUB_BLOCK; i++) weights[i] = rms + Math.abs(values[start + i]!)
            scales[j] = searchScaleAndMin(values, start, j)
            if (scales[j]! > maxScale) maxScale = scales[j]!
            if (mins[j]! > maxMin) maxMin = mins[j]!
        }

        const inverseScale = maxScale > 0 ? Math.fround(63 / maxScale) : 0
        const inverseMin = maxMin > 0 ? Math.fround(63 / maxMin) : 0
        const packed = target.subarray(out + SCALES_AT, out + QUANTS_AT)
        for (let j = 0; j < SUB_BLOCKS; j++) {
            const scale = Math.min(63, nearestInt(Math.fround(inverseScale * scales[j]!)) & 0xff)
            const min = Math.min(63, nearestInt(Math.fround(inverseMin * mins[j]!)) & 0xff)
            // Sub-blocks 0-3 take 6 bits each of bytes 0-3 (scales) and 4-7 (mins); 4-7 keep their
            // low 4 bits in bytes 8-11 and their top 2 bits in the spare top bits of bytes 0-7.
            if (j < 4) {
                packed[j] = scale
                packed[j + 4] = min
            } else {
                packed[j + 4] = (scale & 0x0f) | ((min & 0x0f) << 4)
                packed[j - 4]! |= (scale >> 4) << 6
                packed[j]! |= (min >> 4) << 6
            }
        }
        const dBits = float32ToFloat16Bits(Math.fround(maxScale / 63))
        const dminBits = float32ToFloat16Bits(Math.fround(maxMin / 63))
        view.setUint16(out, dBits, true)
        view.setUint16(out + 2, dminBits, true)

        // Re-quantize against the scales as stored. A sub-block whose 6-bit scale rounded to 0
        // keeps the levels of its search, as in ggml (they decode to -min whatever they are).
        for (let j = 0; j < SUB_BLOCKS; j++) {
            const d = Math.fround(float16BitsToFloat32(dBits) * scaleK4(packed, j))
            if (d === 0) continue
            const dm = Math.fround(float16BitsToFloat32(dminBits) * minK4(packed, j))
            for (let i = 0; i < SUB_BLOCK; i++) {
                const at = j * SUB_BLOCK + i
                levels[at] = clamp(nearestInt(Math.fround(Math.fround(values[block + at]! + dm) / d)), 15)
            }
        }
        // Byte l of each 32-byte group holds value l of a 64-value chunk low and value l + 32 high.
        for (let chunk = 0; chunk < Q4_K_BLOCK_VALUES; chunk += 64) {
            const at = out + QUANTS_AT + chunk / 2
            for (let i = 0; i < 32; i++) target[at + i] = levels[chunk + i]! | (levels[chunk + i + 32]! << 4)
        }
    }
}

/**
 * ggml's `make_qkx2_quants(32, 15, x, weights, L, &the_min, Laux, -1, 0.1, 20, false)` for the
 * sub-block at `start`: fits x ≈ scale * level - min with levels in 0..15 by weighted least squares
 * over 21 candidate level assignments, keeping the one with the least weighted squared error.
 * Writes the levels to `levels`, the min (≥ 0) to `mins[j]`, and returns the scale.
 */
function searchScaleAndMin(x: Float32Array, start: number, j: number): number {
    const best = levels.subarray(j * SUB_BLOCK, (j + 1) * SUB_BLOCK)
    let min = x[start]!
    let max = x[start]!
    let sumW = weights[0]!
    let sumX = Math.fround(sumW * x[start]!)
    for (let i = 1; i < SUB_BLOCK; i++) {
        const value = x[start + i]!
        if (value < min) min = value
        if (value > max) max = value
        const w = weights[i]!
        sumW = Math.fround(sumW + w)
        sumX = Math.fround(sumX + Math.fround(w * value))
    }
    if (min > 0) min = 0
    if (max === min) {
        best.fill(0)
        mins[j] = -min
        return 0
    }
    let inverse = Math.fround(NMAX / Math.fround(max - min))
    let scale = Math.fround(1 / inverse)
    let bestError = 0
    for (let i = 0; i < SUB_BLOCK; i++) {
        const value = x[start + i]!
        best[i] = clamp(nearestInt(Math.fround(inverse * Math.fround(value - min))), NMAX)
        const diff = Math.fround(Math.fround(Math.fround(scale * best[i]!) + min) - value)
        bestError = Math.fround(bestError + Math.fround(weights[i]! * Math.fround(diff * diff)))
    }
    // As in ggml, a better fit's min replaces the data's min from the next candidate on, in both
    // the range and the offset the levels are measured from.
    for (let step = 0; step <= NSTEP; step++) {
        inverse = Math.fround(Math.fround(Math.fround(RMIN + Math.fround(RDELTA * step)) + NMAX) / Math.fround(max - min))
        let sumL = 0
        let sumL2 = 0
        let sumXL = 0
        for (let i = 0; i < SUB_BLOCK; i++) {
            const value = x[start + i]!
            const level = clamp(nearestInt(Math.fround(inverse * Math.fround(value - min))), NMAX)
            candidate[i] = level
            const wl = Math.fround(weights[i]! * level)
            sumL = Math.fround(sumL + wl)
            sumL2 = Math.fround(sumL2 + Math.fround(wl * level))
            sumXL = Math.fround(sumXL + Math.fround(wl * value))
        }
        const det = Math.fround(Math.fround(sumW * sumL2) - Math.fround(sumL * sumL))
        if (!(det > 0)) continue
        let thisScale = Math.fround(Math.fround(Math.fround(sumW * sumXL) - Math.fround(sumX * sumL)) / det)
        let thisMin = Math.fround(Math.fround(Math.fround(sumL2 * sumX) - Math.fround(sumL * sumXL)) / det)
        if (thisMin > 0) {
            thisMin = 0
            thisScale = Math.fround(sumXL / sumL2)
        }
        let error = 0
        for (let i = 0; i < SUB_BLOCK; i++) {
            const diff = Math.fround(Math.fround(Math.fround(thisScale * candidate[i]!) + thisMin) - x[start + i]!)
            error = Math.fround(error + Math.fround(weights[i]! * Math.fround(diff * diff)))
        }
        if (error < bestError) {
            best.set(candidate)
            bestError = error
            scale = thisScale
            min = thisMin
        }
    }
    mins[j] = -min
    return scale
}

const roundScratch = new Float32Array(1)
const roundBits = new Int32Array(roundScratch.buffer)

/**
 * ggml's `nearest_int`: adds 1.5 * 2^23 in float32 and reads the integer back from the mantissa
 * bits. That rounds halves to even (Math.round rounds them up), and beyond ±2^22 it yields the
 * same wrapped value as the C.
 */
function nearestInt(value: number): number {
    roundScratch[0] = value + 12582912
    return (roundBits[0]! & 0x007fffff) - 0x00400000
}

// C's MAX(0, MIN(top, l)).
function clamp(level: number, top: number): number {
    return Math.max(0, Math.min(top, level))
}

// ggml's get_scale_min_k4, split in two: the 6-bit scale and min of sub-block j.
function scaleK4(packed: Uint8Array, j: number): number {
    return j < 4 ? packed[j]! & 63 : (packed[j + 4]! & 0x0f) | ((packed[j - 4]! >> 6) << 4)
}

function minK4(packed: Uint8Array, j: number): number {
    return j < 4 ? packed[j + 4]! & 63 : (packed[j + 4]! >> 4) | ((packed[j]! >> 6) << 4)
}

/** Decodes q4_K super-blocks from `bytes` into `target` (a multiple of 256 long), as ggml's `dequantize_row_q4_K`. */
export function decodeQ4_K(bytes: Uint8Array, target: Float32Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let block = 0, at = 0; block < target.length; block += Q4_K_BLOCK_VALUES, at += Q4_K_BLOCK_BYTES) {
        const d = float16BitsToFloat32(view.getUint16(at, true))
        const dmin = float16BitsToFloat32(view.getUint16(at + 2, true))
        const packed = bytes.subarray(at + SCALES_AT, at + QUANTS_AT)
        for (let j = 0; j < SUB_BLOCKS; j++) {
            const scale = Math.fround(d * scaleK4(packed, j))
            const min = Math.fround(dmin * minK4(packed, j))
            // Sub-blocks 2k and 2k + 1 share 32 bytes: low nibbles, then high nibbles.
            const quants = at + QUANTS_AT + (j >> 1) * 32
            const shift = (j & 1) * 4
            for (let i = 0; i < SUB_BLOCK; i++) {
                target[block + j * SUB_BLOCK + i] = Math.fround(scale * ((bytes[quants + i]! >> shift) & 0x0f)) - min
            }
        }
    }
}
