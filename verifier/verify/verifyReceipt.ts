import {WeaveLMError} from "../../sdk/errors/index.ts"
import {ReceiptSchema, type Receipt, type Sampling, type TokenRecord} from "../../sdk/receipt/index.ts"
import {decodeReplayThresholds, thresholdsFor, type VerificationThresholds} from "../thresholds.ts"
import type {PositionReport, StructuralCheck, VerificationReport, VerifierModel, VerifyReceiptOptions} from "../types.ts"
import {judgePositions, type Judgement} from "./judgePositions.ts"
import {structuralChecks} from "./structuralChecks.ts"

/** Alternatives the verifier ranks per position at least: more than a receipt's 5, so near-ties at the edge of its list are judged fairly. */
const MIN_SCORE_TOP_K = 8
/** The most alternatives ranked per position (the protocol's largest Top-K). */
const MAX_SCORE_TOP_K = 1000

/** The verifier's model cannot hold the receipt: a setup problem, not a verdict. */
export class VerifierSetupError extends WeaveLMError {
    public override readonly name = "VerifierSetupError"
    public override readonly kind = "user"
}

/**
 * Re-checks a receipt: the structural checks against the task, then one teacher-forced re-score of
 * the claimed output with the claimed model, every token judged within the thresholds. A CPU
 * receipt that the re-score fails, or passes close to where other precisions start, is then decided
 * by a decode replay, which an honest receipt matches bit for bit (`options.replay`). `invalid`
 * when any check or position fails; a check whose evidence is missing is `skipped`, not failed.
 * Throws `VerifierSetupError` when the model's context cannot hold the receipt's tokens.
 */
export async function verifyReceipt(options: VerifyReceiptOptions): Promise<VerificationReport> {
    const started = performance.now()
    const {model, expected = {}} = options
    const parsed = ReceiptSchema.safeParse(options.receipt)
    if (!parsed.success) {
        const structural: StructuralCheck[] = [
            {name: "receipt.schema", status: "fail", detail: `not a receipt: ${parsed.error.message.slice(0, 300)}`}
        ]
        return report({structural, thresholds: options.thresholds ?? thresholdsFor(model.weightClass, options.hardware), started})
    }
    const receipt = parsed.data
    const structural: StructuralCheck[] = [
        {name: "receipt.schema", status: "pass", detail: "a version 1 receipt"},
        ...structuralChecks({receipt, receiptBytes: options.receiptBytes, expected, model})
    ]
    const thresholds = options.thresholds ?? thresholdsFor(model.weightClass, options.hardware)

    const needed = receipt.inputTokens.length + receipt.outputTokens.length
    if (needed > model.contextSize)
        throw new VerifierSetupError(
            `the receipt holds ${needed} tokens, the verifier's context ${model.contextSize}: load the model with a context of at least ${needed}`
        )
    if (structural.some((check) => check.name === "tokens.vocabulary" && check.status === "fail"))
        return report({structural, thresholds, started})
    if (receipt.inputTokens.length === 0 || receipt.tokens.length !== receipt.outputTokens.length)
        return report({
            structural,
            thresholds,
            started,
            reasons: ["nothing to re-score: no input tokens, or not one record per output token"]
        })

    // Judge by the task's sampling when known: a receipt that states other parameters failed above already.
    const sampling = expected.sampling ?? receipt.sampling
    const replay = options.replay ?? "escalate"
    const request = {inputTokens: receipt.inputTokens, outputTokens: receipt.outputTokens, topK: scoreTopK(receipt, sampling)}
    const judge = (records: TokenRecord[], profile: VerificationThresholds) =>
        judgePositions({
            outputTokens: receipt.outputTokens,
            claimed: receipt.tokens,
            verifier: records,
            sampling,
            thresholds: profile,
            vocabularySize: model.vocabularySize
        })
    const replayThresholds = decodeReplayThresholds(thresholds)

    let scoreMs = 0
    let rescore: VerificationReport["rescore"]
    if (replay !== "always") {
        const scoring = performance.now()
        const scored = await scoreOrRefuse(model, request, "prefill")
        scoreMs = performance.now() - scoring
        if (typeof scored === "string") return report({structural, thresholds, started, reasons: [scored]})
        const judgement = judge(scored, thresholds)
        // A structural failure decides alone: no replay could make the receipt valid.
        const decided = replay === "never" || structural.some((check) => check.status === "fail")
        const escalated = decided ? undefined : escalation(judgement, thresholds)
        if (escalated == null) return report({structural, thresholds, started, scoreMs, judgement})
        const summary = report({structural, thresholds, started, judgement})
        rescore = {
            verdict: summary.verdict,
            firstBadPosition: summary.firstBadPosition,
            meanTopDelta: judgement.aggregate.meanTopDelta,
            escalated
        }
    }
    const replaying = performance.now()
    const replayed = await scoreOrRefuse(model, request, "decode")
    const replayMs = performance.now() - replaying
    if (typeof replayed === "string")
        return report({structural, thresholds: replayThresholds, started, scoreMs, replayMs, rescore, reasons: [replayed]})
    // Exact numbers decide; the profile's tolerances, on the same numbers, say where the output first goes wrong.
    const located = replayThresholds === thresholds ? undefined : judge(replayed, thresholds)
    return report({
        structural,
        thresholds: replayThresholds,
        started,
        scoreMs,
        replayMs,
        rescore,
        judgement: judge(replayed, replayThresholds),
        located
    })
}

/**
 * Why a re-score's judgement does not decide (a decode replay must), or undefined when it does: only
 * CPU profiles replay, and only a re-score that fails, accepts a choice only within a near-tie, or
 * lands where the precision swaps start.
 */
function escalation(judgement: Judgement, thresholds: VerificationThresholds): string | undefined {
    if (thresholds.exactReplayAbove == null) return undefined
    if (judgement.reasons.length > 0 || judgement.positions.some((position) => !position.ok))
        return "the re-score failed; kernels that differ from the worker's could have caused it"
    if (judgement.aggregate.nearTies > 0)
        return `${judgement.aggregate.nearTies} token choice(s) hold only within a near-tie tolerance, where the worker's exact numbers decide`
    if (judgement.aggregate.meanTopDelta > thresholds.exactReplayAbove)
        return `mean top |Δ| ${judgement.aggregate.meanTopDelta.toExponential(2)} is above ${thresholds.exactReplayAbove} (${thresholds.profile}), where other precisions start`
    return undefined
}

/** The model's records, or why it cannot produce them for these tokens. */
async function scoreOrRefuse(
    model: VerifierModel,
    request: {inputTokens: readonly number[]; outputTokens: readonly number[]; topK: number},
    mode: "prefill" | "decode"
): Promise<TokenRecord[] | string> {
    try {
        return await model.score({...request, mode})
    } catch (error) {
        // score() refuses ids outside the vocabulary (llama.cpp would abort the process on them).
        if (error instanceof RangeError) return `the model cannot re-score the receipt's tokens: ${error.message}`
        throw error
    }
}

/**
 * The report on a challenge that names no receipt of the worker's (a direct receipt missing from
 * its Receipt-Batch, a batch the worker did not sign): nothing is held against the worker, so the
 * verdict is valid, with `reason` as a skipped check.
 */
export function unfoundedReport(reason: string, model: Pick<VerifierModel, "weightClass">): VerificationReport {
    const structural: StructuralCheck[] = [{name: "challenge.receipt", status: "skipped", detail: reason}]
    return report({structural, thresholds: thresholdsFor(model.weightClass), started: performance.now()})
}

function scoreTopK(receipt: Receipt, sampling: Sampling): number {
    const listed = Math.max(0, ...receipt.tokens.map((record) => record.top.length))
    // Sampled tasks need the sampler's whole top-k ranked to place the draw (top-k off: as many as allowed).
    const support = Number(sampling.temperature) > 0 ? (sampling.topK > 0 ? sampling.topK : MAX_SCORE_TOP_K) : 0
    return Math.min(MAX_SCORE_TOP_K, Math.max(MIN_SCORE_TOP_K, listed + 3, support))
}

interface ReportParts {
    structural: StructuralCheck[]
    thresholds: VerificationReport["thresholds"]
    started: number
    scoreMs?: number
    /** Set when a decode replay ran: it decided. */
    replayMs?: number
    rescore?: VerificationReport["rescore"]
    reasons?: string[]
    judgement?: Judgement
    /**
     * A decode replay's numbers judged with the re-score's tolerances: where the output goes wrong by
     * more than kernels could, named before the positions that differ only from the worker's exact floats.
     */
    located?: Judgement
}

const MAX_POSITION_REASONS = 8

function report({
    structural,
    thresholds,
    started,
    scoreMs = 0,
    replayMs,
    rescore,
    reasons: extra = [],
    judgement,
    located
}: ReportParts): VerificationReport {
    const positions = judgement?.positions ?? []
    const bad = positions.filter((position) => !position.ok)
    const wrong = located?.positions.filter((position) => !position.ok) ?? []
    // After a replay: where the output goes wrong first (beyond the profile's tolerances, or a token the
    // exact numbers do not choose), in order, then the positions whose numbers alone differ.
    const substantive = new Map<number, PositionReport>()
    if (located != null) {
        for (const position of bad) if (!position.chosen) substantive.set(position.position, position)
        for (const position of wrong) substantive.set(position.position, position)
    }
    const named = [
        ...[...substantive.values()].sort((a, b) => a.position - b.position),
        ...bad.filter((position) => !substantive.has(position.position))
    ]
    const reasons = [
        ...structural.filter((check) => check.status === "fail").map((check) => `${check.name}: ${check.detail}`),
        ...extra,
        ...named
            .slice(0, MAX_POSITION_REASONS)
            .map((position) => `position ${position.position} (token ${position.token}): ${position.why}`),
        ...(named.length > MAX_POSITION_REASONS ? [`${named.length - MAX_POSITION_REASONS} more positions failed`] : []),
        ...(located?.reasons ?? []),
        ...(judgement?.reasons ?? [])
    ]
    return {
        verdict: reasons.length === 0 ? "valid" : "invalid",
        firstBadPosition: named[0]?.position ?? null,
        checked: positions.length,
        reasons,
        positions,
        structural,
        aggregate: judgement?.aggregate ?? {
            meanTopDelta: 0,
            maxTokenDelta: 0,
            maxTopDelta: 0,
            replay: {exact: 0, bounded: 0, skipped: 0, flips: 0},
            nearTies: 0
        },
        thresholds,
        decidedBy: replayMs == null ? "rescore" : "replay",
        ...(rescore == null ? {} : {rescore}),
        timings: {scoreMs, replayMs: replayMs ?? 0, totalMs: performance.now() - started}
    }
}
