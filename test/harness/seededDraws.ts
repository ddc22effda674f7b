/** A 64-bit LCG (Knuth's MMIX constants): `next(mod)` draws a bigint in [0, mod) the same way for the same seed, so table-driven rule tests are reproducible. */
export function seededDraws(seed: bigint): (mod: bigint) => bigint {
    let state = seed
    return (mod) => {
        state = (state * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n
        return (state >> 11n) % mod
    }
}
