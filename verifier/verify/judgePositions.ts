import type {Sampling, TokenRecord} from "../../sdk/receipt/index.ts"
import {judgeSampledToken, replayDraws, type ChainSettings} from "../sampling/samplerChain.ts"
import type {VerificationThresholds} from "../thresholds.ts"
import type {PositionReport, VerificationReport} from "../types.ts"

export interface JudgeInput {
    outputTokens: readonly number[]
    /** The receipt's records, one per output token. */
    claimed: readonly TokenRecord[]
    /** The verifier's re-score of the same tokens. */
    verifier: readonly TokenRecord[]
    /** The task's sampling parameters: what the tokens must have been chosen with. */
    sampling: Sampling
    thresholds: VerificationThresholds
    /** The model's vocabulary size: bounds the sampler's support beyond the ranked tokens. */
    vocabularySize: number
}

export interface Judgement {
    positions: PositionReport[]
    aggregate: VerificationReport["aggregate"]
    /** Failures beyond single positions (the whole-output aggregate). */
    reasons: string[]
}

/**
 * Judges each claimed output token against the verifier's re-score, and the output as a whole.
 * Pure: the same records and thresholds always give the same judgement.
 */
export function judgePositions({outputTokens, claimed, verifier, sampling, thresholds, vocabularySize}: JudgeInput): Judgement {
    const temperature = Number(sampling.temperature)
    const greedy = !(temperature > 0)
    const chain: ChainSettings = {temperature, topK: sampling.topK, topP: Number(sampling.topP)}
    const draws = greedy ? null : replayDraws(sampling.seed, outputTokens.length)

    const positions: PositionReport[] = []
    let pooledDelta = 0
    let pooledCount = 0
    let maxTokenDelta = 0
    let maxTopDelta = 0
    const replay = {exact: 0, bounded: 0, skipped: 0, flips: 0}
    let nearTies = 0
    for (const [position, token] of outputTokens.entries()) {
        const c = claimed[position]!
        const v = verifier[position]!
        const why: string[] = []
        const [verifierTop1, verifierTop1Logprob] = v.top[0]!
        const rankIndex = v.top.findIndex(([candidate]) => candidate === token)
        const marginToTop1 = Math.max(0, verifierTop1Logprob - v.logprob)

        const tokenDelta = Math.abs(c.logprob - v.logprob)
        maxTokenDelta = Math.max(maxTokenDelta, tokenDelta)
        if (c.token !== token) why.push(`the record is for token ${c.token}`)
        if (!(tokenDelta <= thresholds.tokenLogprob))
            why.push(
                `claimed log-probability ${c.logprob.toFixed(4)}, the verifier's ${v.logprob.toFixed(4)} (|Δ| ${tokenDelta.toExponential(1)})`
            )

        // The two top lists: shared entries must agree, and neither may leave out what the other ranks high.
        const verifierTop = new Map(v.top)
        const deltas: number[] = []
        for (const [candidate, logprob] of c.top) {
            const own = verifierTop.get(candidate)
            if (own !== undefined) deltas.push(Math.abs(logprob - own))
            else if (logprob > v.top.at(-1)![1] + thresholds.topLogprob)
                why.push(
                    `the receipt's top list has token ${candidate} at ${logprob.toFixed(3)}; the verifier ranks it below its ${v.top.length}th (${v.top.at(-1)![1].toFixed(3)})`
                )
        }
        const claimedTop = new Set(c.top.map(([candidate]) => candidate))
        const claimedFloor = c.top.at(-1)![1]
        const omitted = v.top
            .slice(0, c.top.length)
            .find(([candidate, logprob]) => !claimedTop.has(candidate) && logprob > claimedFloor + thresholds.topLogprob)
        if (omitted != null)
            why.push(`the receipt's top list leaves out token ${omitted[0]}, which the verifier ranks at ${omitted[1].toFixed(3)}`)
        const worstTop = deltas.length === 0 ? 0 : Math.max(...deltas)
        if (worstTop > thresholds.topLogprob) why.push(`top-list log-probabilities differ by up to ${worstTop.toExponential(2)}`)
        maxTopDelta = Math.max(maxTopDelta, worstTop)
        pooledDelta += deltas.reduce((sum, delta) => sum + delta, 0)
        pooledCount += deltas.length

        let replayReport: PositionReport["replay"]
        let chosen: boolean
        if (greedy) {
            if (c.top[0]![0] !== token) why.push("greedy, yet the receipt's own top list does not rank the token first")
            chosen = marginToTop1 <= thresholds.greedyMargin
            if (!chosen) why.push(`greedy, yet ${marginToTop1.toFixed(3)} nats below the verifier's best token ${verifierTop1}`)
            else if (verifierTop1 !== token) nearTies++
        } else {
            const judge = (tieBandNats: number) =>
                judgeSampledToken({
                    ranked: v.top,
                    token,
                    logprob: v.logprob,
                    settings: chain,
                    u: draws?.[position] ?? null,
                    vocabularySize,
                    tieBandNats,
                    supportSlackNats: thresholds.supportSlackNats,
                    supportSlackMass: thresholds.supportSlackMass
                })
            const judged = judge(thresholds.replayTieNats)
            const flipDistance =
                thresholds.replayFlipNats === thresholds.replayTieNats
                    ? judged.replay.distance
                    : judge(thresholds.replayFlipNats).replay.distance
            if (!judged.inSupport) why.push(`not in the sampler's support: ${judged.supportWhy}`)
            else if (judged.replay.mode !== "skipped" && judge(0).replay.distance > 0) nearTies++
            replayReport = {...judged.replay, flipDistance}
            replay[judged.replay.mode]++
            chosen = judged.inSupport && flipDistance <= thresholds.replaySlack
            if (flipDistance > thresholds.replaySlack) {
                const [from, to] = judged.replay.interval!
                why.push(
                    `the seed's draw ${judged.replay.u!.toFixed(4)} picks another token: this one holds [${from.toFixed(4)}, ${to.toFixed(4)}]${judged.replay.mode === "bounded" ? " at most" : ""}`
                )
            } else if (judged.replay.distance > thresholds.replaySlack) replay.flips++
        }

        positions.push({
            position,
            token,
            claimedLogprob: c.logprob,
            verifierLogprob: v.logprob,
            rankInVerifierTopK: rankIndex === -1 ? null : rankIndex + 1,
            verifierTop1,
            marginToTop1,
            meanTopDelta: deltas.length === 0 ? 0 : deltas.reduce((sum, delta) => sum + delta, 0) / deltas.length,
            maxTopDelta: worstTop,
            ...(replayReport == null ? {} : {replay: replayReport}),
            chosen,
            ok: why.length === 0,
            ...(why.length === 0 ? {} : {why: why.join("; ")})
        })
    }

    const meanTopDelta = pooledCount === 0 ? 0 : pooledDelta / pooledCount
    const reasons: string[] = []
    const flipsAllowed = Math.floor(thresholds.replayFlipBudget * (replay.exact + replay.bounded))
    if (replay.flips > flipsAllowed)
        reasons.push(
            `the seed's draws pick other tokens, within near-ties, at ${replay.flips} of ${replay.exact + replay.bounded} positions (at most ${flipsAllowed} for ${thresholds.profile} kernels)`
        )
    if (meanTopDelta > thresholds.meanTopLogprob)
        reasons.push(
            `top-list log-probabilities differ by ${meanTopDelta.toExponential(2)} nats on average (at most ${thresholds.meanTopLogprob} for ${thresholds.profile} kernels): other weights, or the same weights at another precision`
        )
    return {positions, aggregate: {meanTopDelta, maxTokenDelta, maxTopDelta, replay, nearTies}, reasons}
}
