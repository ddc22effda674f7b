// Seeded randomness for test-model weights. Only 32-bit integer operations and exactly
// rounded float arithmetic are used, so every JavaScript engine produces the same bits:
// a model file is identified by its hash, and regenerating it from (preset, seed) must
// reproduce that hash anywhere.

const GOLDEN_GAMMA = 0x9e3779b9

/** Murmur3's finaliser over a Weyl sequence: a bijection, so consecutive outputs never repeat. */
function splitmix32(state: number): number {
    let z = (state + GOLDEN_GAMMA) | 0
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a over UTF-16 code units: separates per-tensor streams by name. */
function fnv1a(text: string): number {
    let hash = 0x811c9dc5
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
    return hash >>> 0
}

// Irwin-Hall of four 16-bit uniforms: integer sums, so no transcendental function (whose
// last bit may differ between engines) touches the weights. Variance of one uniform on
// 0..65535 is (65536² - 1) / 12.
const IRWIN_HALL_MEAN = 2 * 65535
const IRWIN_HALL_INV_STD = 1 / Math.sqrt((4 * (65536 * 65536 - 1)) / 12)

/** Seeds are integers in [0, 2^32): anything else would be silently truncated to one. */
export function assertSeed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`)
}

/**
 * xoshiro128** (period 2^128 - 1). A stream is keyed by a seed and a name, so each tensor
 * gets its own independent sequence whatever order tensors are generated in.
 */
export class Prng {
    private s0: number
    private s1: number
    private s2: number
    private s3: number

    constructor(seed: number, stream: string) {
        assertSeed(seed)
        // splitmix32 is a bijection of its counter, so at most one of the four words is zero
        // and xoshiro's forbidden all-zero state cannot occur.
        let counter = (seed ^ fnv1a(stream)) >>> 0
        this.s0 = splitmix32(counter)
        this.s1 = splitmix32((counter += GOLDEN_GAMMA))
        this.s2 = splitmix32((counter += GOLDEN_GAMMA))
        this.s3 = splitmix32((counter += GOLDEN_GAMMA))
    }

    nextUint32(): number {
        const s1 = this.s1
        const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
        const t = s1 << 9
        this.s2 ^= this.s0
        this.s3 ^= s1
        this.s1 ^= this.s2
        this.s0 ^= this.s3
        this.s2 ^= t
        this.s3 = rotl(this.s3, 11)
        return result
    }

    /** Fills `target` with approximately normal values of mean 0 and standard deviation `std`. */
    fillNormal(target: Float32Array, std: number): void {
        const scale = std * IRWIN_HALL_INV_STD
        for (let i = 0; i < target.length; i++) {
            const a = this.nextUint32()
            const b = this.nextUint32()
            const sum = (a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16)
            target[i] = (sum - IRWIN_HALL_MEAN) * scale
        }
    }
}

function rotl(x: number, k: number): number {
    return (x << k) | (x >>> (32 - k))
}
