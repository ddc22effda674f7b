/**
 * The C++ standard library's `std::mt19937` (32-bit Mersenne Twister), which llama.cpp's `dist`
 * sampler draws from. Seeded the way `std::mt19937(seed)` is, so a verifier can replay the random
 * stream a worker's seeded sampler consumed.
 */
export class Mt19937 {
    readonly #state = new Uint32Array(624)
    #index = 624

    public constructor(seed: number) {
        const state = this.#state
        state[0] = seed >>> 0
        for (let i = 1; i < 624; i++) {
            const previous = state[i - 1]! ^ (state[i - 1]! >>> 30)
            // 1812433253 * previous + i, modulo 2^32, without losing bits to floating point.
            state[i] = (((((previous & 0xffff0000) >>> 16) * 1812433253) << 16) + (previous & 0x0000ffff) * 1812433253 + i) >>> 0
        }
    }

    /** The next 32-bit output, as `operator()` returns it. */
    public next(): number {
        const state = this.#state
        if (this.#index >= 624) {
            for (let i = 0; i < 624; i++) {
                const y = (state[i]! & 0x80000000) | (state[(i + 1) % 624]! & 0x7fffffff)
                state[i] = state[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)
            }
            this.#index = 0
        }
        let y = state[this.#index++]!
        y ^= y >>> 11
        y ^= (y << 7) & 0x9d2c5680
        y ^= (y << 15) & 0xefc60000
        y ^= y >>> 18
        return y >>> 0
    }

    /**
     * `std::uniform_real_distribution<double>(0, 1)(rng)` as libstdc++ and libc++ compute it:
     * `generate_canonical<double, 53>` takes two 32-bit outputs, `(a + b * 2^32) / 2^64`, and
     * clamps a result of 1 to the largest double below 1.
     */
    public nextCanonical(): number {
        const low = this.next()
        const high = this.next()
        const value = (low + high * 2 ** 32) / 2 ** 64
        return value >= 1 ? 1 - Number.EPSILON / 2 : value
    }
}
