import {Mt19937} from "./mt19937.ts"

/**
 * The engine's sampler chain for temperature > 0, as llama.cpp runs it for node-llama-cpp 3.22.1:
 * top-k on the raw logits (0: off), top-p on the probabilities renormalised over those k
 * (1: off; the token at which the running sum reaches p is kept), then temperature, then one
 * seeded draw `u` from `std::mt19937(seed)`: the chosen token is the first, strongest first,
 * whose running weight reaches `u` times the total. So the support does not depend on the
 * temperature; only the weights within it do.
 */
export interface ChainSettings {
    temperature: number
    /** 0 turns top-k off. */
    topK: number
    topP: number
}

/** llama.cpp's LLAMA_DEFAULT_SEED: the dist sampler replaces it with a random seed, so nothing can be replayed. */
export const UNREPLAYABLE_SEED = 0xffffffff

/** The uniform draws a seeded generation consumed, one per output token. */
export function replayDraws(seed: number, count: number): number[] | null {
    if (seed === UNREPLAYABLE_SEED) return null
    const rng = new Mt19937(seed)
    return Array.from({length: count}, () => rng.nextCanonical())
}

export interface SampledTokenInput {
    /** The verifier's strongest tokens at this position, `[token, logprob]`, strongest first. */
    ranked: readonly (readonly [number, number])[]
    /** The claimed token and the verifier's log-probability for it (known even when not ranked). */
    token: number
    logprob: number
    settings: ChainSettings
    /** The replayed draw for this position; null when the seed cannot be replayed. */
    u: number | null
    /** Tokens in the model's vocabulary: bounds how many unranked tokens the support can hold. */
    vocabularySize: number
    /** Tokens this close (nats) to the claimed one may precede or follow it in the worker's order. */
    tieBandNats: number
    /** How far outside the support a token may be: nats below the k-th logprob at the top-k edge. */
    supportSlackNats: number
    /** ... and probability mass beyond top-p at the top-p edge. */
    supportSlackMass: number
}

export interface SampledTokenJudgement {
    /** Whether the token lies in the sampler's support (top-k, then top-p), within the slack. */
    inSupport: boolean
    /** Why not, when not. */
    supportWhy?: string
    /** Probability mass (renormalised over the top-k) ranked above the token; null when unknown. */
    massBefore: number | null
    replay: ReplayJudgement
}

export interface ReplayJudgement {
    /**
     * `exact`: the whole support was ranked, so the token's share of the draw is known; `bounded`:
     * the support runs past the ranked list, whose unranked rest is bounded by its mass and size, so
     * the share is known to lie within `interval`; `skipped`: the seed cannot be replayed or the token
     * is outside the support.
     */
    mode: "exact" | "bounded" | "skipped"
    u: number | null
    /** Where the draw may lie for this token to be chosen, `[from, to]` in [0, 1] (the outer bounds in `bounded` mode). */
    interval: [number, number] | null
    /** How far the draw lies outside the interval (0 inside); compared with the replay slack. */
    distance: number
}

/**
 * Judges one token of a seeded sampled generation against the verifier's distribution: is it in
 * the support, and would the replayed draw have picked it (within the slack)?
 */
export function judgeSampledToken(input: SampledTokenInput): SampledTokenJudgement {
    const {ranked, token, logprob, settings} = input
    const listed = ranked.length
    const k = settings.topK > 0 ? settings.topK : Infinity
    const rankIndex = ranked.findIndex(([candidate]) => candidate === token)
    const rank = rankIndex === -1 ? null : rankIndex + 1
    const probability = ranked.map(([, lp]) => Math.exp(lp))

    // Top-p renormalises over the top-k candidates: known when all k are listed, and 1 when top-k is off.
    const topKListed = k <= listed
    const kMass = topKListed ? sum(probability.slice(0, k)) : k === Infinity ? 1 : null
    const candidates = Math.min(k, listed)
    // The top-p cut: how many ranked tokens it keeps; null when it falls past the ranked list.
    let kept: number | null = topKListed ? k : null
    if (settings.topP < 1 && kMass != null) {
        let running = 0
        kept = null
        for (let i = 0; i < candidates; i++) {
            running += probability[i]! / kMass
            if (running >= settings.topP) {
                kept = i + 1
                break
            }
        }
        if (kept == null && topKListed) kept = candidates
    }
    const massBefore = rank != null && kMass != null ? sum(probability.slice(0, rank - 1)) / kMass : null

    let inSupport: boolean
    let supportWhy: string | undefined
    if (rank != null && (kept == null || rank <= kept)) inSupport = true
    else if (rank != null && rank <= k && massBefore != null) {
        // Beyond the top-p cut: fine if the mass ranked above it is within the slack of p.
        inSupport = massBefore < settings.topP + input.supportSlackMass
        if (!inSupport) supportWhy = `outside top-p ${settings.topP}: ${massBefore.toFixed(4)} of the mass ranks above it`
    } else if (topKListed) {
        // Beyond the top-k (rank > k, or not even listed while all k are): fine only in a near-tie with the k-th.
        const edge = ranked[k - 1]![1]
        inSupport = logprob >= edge - input.supportSlackNats
        if (!inSupport)
            supportWhy = `outside top-k ${settings.topK}: ${rank == null ? "not ranked" : `rank ${rank}`}, ${(edge - logprob).toFixed(3)} nats below the ${k}th token`
    } else if (kept != null && kMass != null) {
        // Not ranked, top-k off, and the top-p cut falls inside the ranked list: everything ranked comes first.
        const above = sum(probability) / kMass
        inSupport = above < settings.topP + input.supportSlackMass
        if (!inSupport) supportWhy = `outside top-p ${settings.topP}: not ranked, ${above.toFixed(4)} of the mass ranks above it`
    } else {
        // Not ranked and the support runs past the ranked list: nothing to say.
        inSupport = true
    }

    return {inSupport, ...(supportWhy == null ? {} : {supportWhy}), massBefore, replay: replay(input, kept, inSupport)}
}

function replay(
    {ranked, token, logprob, settings, u, vocabularySize, tieBandNats}: SampledTokenInput,
    kept: number | null,
    inSupport: boolean
): ReplayJudgement {
    if (u == null || !inSupport) return {mode: "skipped", u, interval: null, distance: 0}
    const top = ranked[0]![1]
    const a = 1 / settings.temperature
    // Weights relative to the best token, as llama.cpp's dist sampler computes them after the temperature.
    const weight = (lp: number) => Math.exp((lp - top) * a)
    const own = weight(logprob)
    // The ranked support; a token the slack admitted joins it right after the cut.
    const rankIndex = ranked.findIndex(([candidate]) => candidate === token)
    const listedSupport = kept == null ? ranked.length : Math.max(kept, rankIndex + 1)
    // The draw walks the support strongest first. Tokens within the tie band of this one may stand on
    // either side of it in the worker's order (its numbers differ from ours in the last digits), so
    // its share starts after those surely stronger and ends after all that may be.
    let surelyBefore = 0
    let maybeBefore = 0
    let total = own
    for (let i = 0; i < listedSupport; i++) {
        if (i === rankIndex) continue
        const lp = ranked[i]![1]
        const w = weight(lp)
        total += w
        if (lp > logprob + tieBandNats) surelyBefore += w
        if (lp >= logprob - tieBandNats) maybeBefore += w
    }

    if (kept != null) {
        // The whole support is ranked: the total weight is known.
        const interval: [number, number] = [surelyBefore / total, Math.min(1, (maybeBefore + own) / total)]
        return {mode: "exact", u, interval, distance: Math.max(0, interval[0] - u, u - interval[1])}
    }

    // The support runs past the ranked list. What lies beyond is bounded: its raw mass is what the
    // list leaves of 1, each of its tokens is at most as likely as the last ranked, and there are at
    // most (vocabulary - ranked) of them. That bounds the total weight from above.
    const p1 = Math.exp(top)
    const tailMass = Math.max(0, 1 - sum(ranked.map(([, lp]) => Math.exp(lp)))) / p1
    const tailCount = Math.max(0, (settings.topK > 0 ? Math.min(settings.topK, vocabularySize) : vocabularySize) - ranked.length)
    const lastRatio = Math.exp(ranked.at(-1)![1] - top)
    const tailBound = a >= 1 ? lastRatio ** (a - 1) * tailMass : tailCount ** (1 - a) * tailMass ** a
    const least = total
    // An unranked token is itself part of the bounded rest.
    const most = total - (rankIndex === -1 ? own : 0) + Math.min(tailBound, tailCount * lastRatio ** a)
    // Ranked: unranked tokens all come later. Not ranked: unranked ones may come first, so it may end as late as 1.
    const interval: [number, number] = [surelyBefore / most, rankIndex === -1 ? 1 : Math.min(1, (maybeBefore + own) / least)]
    return {mode: "bounded", u, interval, distance: Math.max(0, interval[0] - u, u - interval[1])}
}

function sum(values: readonly number[]): number {
    let total = 0
    for (const value of values) total += value
    return total
}
