import {describe, expect, it} from "vitest"
import {Prng} from "../../model-publisher/testModel/prng.ts"

const draws = (prng: Prng, count: number) => Array.from({length: count}, () => prng.nextUint32())

describe("Prng", () => {
    // Reference values from a C build of the published xoshiro128** and splitmix32 (uint32_t
    // arithmetic), seeded the same way: pins the integer arithmetic and the seeding, on which
    // every published test model's hash depends.
    it.each([
        [0, "", [2040553127, 2671230994, 3535833209, 446703493, 2088642236, 2310133322]],
        [42, "token_embd.weight", [2763411168, 64509007, 2475858819, 2267117099, 2661140274, 2576948286]],
        [0xffffffff, "output.weight", [3851488652, 3591536889, 3851884455, 962457638, 2234471513, 2799909176]]
    ])("matches the C reference for seed %i, stream %j", (seed, stream, expected) => {
        expect(draws(new Prng(seed, stream), 6)).toEqual(expected)
    })

    it("separates seeds and streams", () => {
        const base = draws(new Prng(7, "a"), 4)
        expect(draws(new Prng(7, "a"), 4)).toEqual(base)
        expect(draws(new Prng(8, "a"), 4)).not.toEqual(base)
        expect(draws(new Prng(7, "b"), 4)).not.toEqual(base)
    })

    it("rejects seeds that are not 32-bit unsigned integers", () => {
        for (const seed of [-1, 1.5, 2 ** 32, Number.NaN]) expect(() => new Prng(seed, "x")).toThrow(RangeError)
    })

    it("fills normal-ish values with the requested spread and no repeated rows", () => {
        const values = new Float32Array(200_000)
        new Prng(1, "stats").fillNormal(values, 0.5)
        const mean = values.reduce((sum, x) => sum + x, 0) / values.length
        const std = Math.sqrt(values.reduce((sum, x) => sum + (x - mean) ** 2, 0) / values.length)
        expect(Math.abs(mean)).toBeLessThan(0.005)
        expect(std).toBeGreaterThan(0.495)
        expect(std).toBeLessThan(0.505)
        // About 68% within one std for a normal, 65% for a uniform: the shape must be bell-like.
        const within = values.filter((x) => Math.abs(x) < 0.5).length / values.length
        expect(within).toBeGreaterThan(0.66)
        expect(within).toBeLessThan(0.7)
        // A broken generator repeats itself: rows of 64 values must all differ.
        const rows = new Set<string>()
        for (let i = 0; i < values.length; i += 64) rows.add(values.subarray(i, i + 64).join(","))
        expect(rows.size).toBe(Math.ceil(values.length / 64))
    })
})
