import {describe, expect, it} from "vitest"
import {judgeSampledToken, Mt19937, replayDraws, UNREPLAYABLE_SEED, type ChainSettings} from "../../verifier/index.ts"

// The sampler replay without a model: the PRNG against the C++ standard's reference values, and
// the support and draw arithmetic on hand-made distributions.

describe("Mt19937", () => {
    it("matches std::mt19937", () => {
        const rng = new Mt19937(5489)
        expect(rng.next()).toBe(3499211612)
        expect(rng.next()).toBe(581869302)
        // The standard's own check: the 10000th output of a default-constructed mt19937.
        const again = new Mt19937(5489)
        let value = 0
        for (let i = 0; i < 10_000; i++) value = again.next()
        expect(value).toBe(4123659995)
    })

    it("draws uniform doubles as std::uniform_real_distribution<double> does, two outputs each", () => {
        expect(new Mt19937(5489).nextCanonical()).toBeCloseTo((3499211612 + 581869302 * 2 ** 32) / 2 ** 64, 15)
        expect(new Mt19937(5489).nextCanonical()).toBeCloseTo(0.135477004, 9)
        expect(replayDraws(7, 3)).toEqual(
            [0, 1, 2].map(
                (
                    (rng) => () =>
                        rng.nextCanonical()
                )(new Mt19937(7))
            )
        )
        expect(replayDraws(UNREPLAYABLE_SEED, 3)).toBeNull()
    })
})

const ln = Math.log
// Probabilities 0.5, 0.25, 0.125, 0.0625, then the rest of the vocabulary.
const ranked: [number, number][] = [
    [10, ln(0.5)],
    [11, ln(0.25)],
    [12, ln(0.125)],
    [13, ln(0.0625)]
]
const judge = (
    token: number,
    settings: ChainSettings,
    u: number | null,
    logprob = ranked.find(([t]) => t === token)?.[1] ?? ln(0.001),
    tieBandNats = 0
) =>
    judgeSampledToken({
        ranked,
        token,
        logprob,
        settings,
        u,
        vocabularySize: 100,
        supportSlackNats: 0.1,
        supportSlackMass: 0.02,
        tieBandNats
    })

describe("judgeSampledToken", () => {
    it("keeps tokens inside top-k, with slack for a near-tie at the edge", () => {
        const topK2 = {temperature: 1, topK: 2, topP: 1}
        expect(judge(11, topK2, null).inSupport).toBe(true)
        expect(judge(12, topK2, null)).toMatchObject({inSupport: false, supportWhy: expect.stringMatching(/top-k 2/)})
        expect(judge(12, topK2, null, ln(0.25) - 0.05).inSupport).toBe(true)
    })

    it("cuts top-p over the top-k renormalised mass, keeping the token that reaches p", () => {
        // Over the top 3: 0.571, 0.286, 0.143. p = 0.8 keeps the first two.
        const settings = {temperature: 1, topK: 3, topP: 0.8}
        expect(judge(11, settings, null).inSupport).toBe(true)
        expect(judge(12, settings, null)).toMatchObject({inSupport: false, supportWhy: expect.stringMatching(/top-p/)})
        expect(judge(12, {...settings, topP: 0.86}, null).inSupport).toBe(true)
    })

    it("puts an unranked token outside a top-p cut that falls inside the ranked list", () => {
        expect(judge(50, {temperature: 1, topK: 0, topP: 0.8}, null)).toMatchObject({
            inSupport: false,
            supportWhy: expect.stringMatching(/not ranked/)
        })
        expect(judge(50, {temperature: 1, topK: 0, topP: 1}, null).inSupport).toBe(true)
    })

    it("replays the draw: a token holds its share of the support's weight at the temperature", () => {
        // Top-k 2 at temperature 1: shares 2/3 and 1/3.
        const settings = {temperature: 1, topK: 2, topP: 1}
        expect(judge(10, settings, 0.6).replay).toMatchObject({mode: "exact", distance: 0})
        expect(judge(11, settings, 0.6).replay.distance).toBeCloseTo(2 / 3 - 0.6, 12)
        expect(judge(11, settings, 0.9).replay.interval).toEqual([2 / 3, 1])
        // Temperature 0.5 squares the weights: shares 0.8 and 0.2.
        expect(judge(11, {...settings, temperature: 0.5}, 0.7).replay.distance).toBeCloseTo(0.1, 12)
    })

    it("lets near-ties stand in either order", () => {
        // Token 11 at 0.25 and a claimed near-twin of token 10: within the band, 10 may come after it.
        const settings = {temperature: 1, topK: 2, topP: 1}
        expect(judge(11, settings, 0.1).replay.distance).toBeGreaterThan(0.5)
        expect(judge(11, settings, 0.1, ln(0.25), Math.log(2) + 1e-9).replay).toMatchObject({interval: [0, 1], distance: 0})
    })

    it("bounds the draw when the support runs past the ranked tokens", () => {
        // Top-k off: 0.0625 of the mass is unranked, spread over at most 96 tokens each below 0.0625.
        const settings = {temperature: 1, topK: 0, topP: 1}
        const first = judge(10, settings, 0.3).replay
        expect(first.mode).toBe("bounded")
        expect(first.interval![0]).toBe(0)
        expect(first.interval![1]).toBeCloseTo(0.5 / 0.9375, 12)
        expect(judge(10, settings, 0.6).replay.distance).toBeGreaterThan(0)
        // An unranked token needs a draw past every ranked one.
        expect(judge(50, settings, 0.5).replay.distance).toBeCloseTo(0.9375 - 0.5, 12)
        expect(judge(50, settings, 0.99).replay.distance).toBe(0)
    })

    it("skips the replay when the seed is random", () => {
        expect(judge(11, {temperature: 1, topK: 2, topP: 1}, null).replay).toMatchObject({mode: "skipped", distance: 0})
    })
})
