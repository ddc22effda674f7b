import {ReceiptSchema, type Receipt, type Sampling, type TokenRecord} from "../../sdk/receipt/index.ts"
import {thresholdsFor} from "../thresholds.ts"
import type {StructuralCheck, VerificationReport, VerifierModel, VerifyReceiptOptions} from "../types.ts"
import {judgePositions} from "./judgePositions.ts"
import {structuralChecks} from "./structuralChecks.ts"

/** Alternatives the verifier ranks per position at least: more than a receipt's 5, so near-ties at the edge of its list are judged fairly. */
const MIN_SCORE_TOP_K = 8
/** The most alternatives ranked per position (the protocol's largest Top-K). */
const MAX_SCORE_TOP_K = 1000

/** The verifier's model cannot hold the receipt: a setup problem, not a verdict. */
export class VerifierSetupError extends Error {
    public override readonly name = "VerifierSetupError"
}

/**
 * Re-checks a receipt: the structural checks against the task, then one teacher-forced re-score of
 * the claimed output with the claimed model, every token judged within the thresholds. `invalid`
 * when any check or position fails; a check whose evidence is missing is `skipped`, not failed.
 * Throws `VerifierSetupError` when the model's context cannot hold the receipt's tokens.
 */
export async function verifyReceipt(options: VerifyReceiptOptions): Promise<VerificationReport> {
    const started = performance.now()
    const {model, expected = {}} = options
    const parsed = ReceiptSchema.safeParse(options.receipt)
    if (!parsed.success) {
        const structural: StructuralCheck[] = [{name: "receipt.schema", status: "fail", detail: `not a receipt: ${parsed.error.message.slice(0, 300)}`}]
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
        throw new VerifierSetupError(`the receipt holds ${needed} tokens, the verifier's context ${model.contextSize}: load the model with a context of at least ${needed}`)
    if (structural.some((check) => check.name === "tokens.vocabulary" && check.status === "fail")) return report({structural, thresholds, started})
    if (receipt.inputTokens.length === 0 || receipt.tokens.length !== receipt.outputTokens.length)
        return report({structural, thresholds, started, reasons: ["nothing to re-score: no input tokens, or not one record per output token"]})

    // Judge by the task's sampling when known: a receipt that states other parameters failed above already.
    const sampling = expected.sampling ?? receipt.sampling
    const scoring = performance.now()
    let scored: TokenRecord[]
    try {
        scored = await model.score({inputTokens: receipt.inputTokens, outputTokens: receipt.outputTokens, topK: scoreTopK(receipt, sampling)})
    } catch (error) {
        // score() refuses ids outside the vocabulary (llama.cpp would abort the process on them).
        if (error instanceof RangeError) return report({structural, thresholds, started, reasons: [`the model cannot re-score the receipt's tokens: ${error.message}`]})
        throw error
    }
    const scoreMs = performance.now() - scoring
    const judgement = judgePositions({outputTokens: receipt.outputTokens, claimed: receipt.tokens, verifier: scored, sampling, thresholds, vocabularySize: model.vocabularySize})
    return report({structural, thresholds, started, scoreMs, judgement})
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
    reasons?: string[]
    judgement?: ReturnType<typeof judgePositions>
}

const MAX_POSITION_REASONS = 8

function report({structural, thresholds, started, scoreMs = 0, reasons: extra = [], judgement}: ReportParts): VerificationReport {
    const positions = judgement?.positions ?? []
    const bad = positions.filter((position) => !position.ok)
    const reasons = [
        ...structural.filter((check) => check.status === "fail").map((check) => `${check.name}: ${check.detail}`),
        ...extra,
        ...bad.slice(0, MAX_POSITION_REASONS).map((position) => `position ${position.position} (token ${position.token}): ${position.why}`),
        ...(bad.length > MAX_POSITION_REASONS ? [`${bad.length - MAX_POSITION_REASONS} more positions failed`] : []),
        ...judgement?.reasons ?? []
    ]
    return {
        verdict: reasons.length === 0 ? "valid" : "invalid",
        firstBadPosition: bad[0]?.position ?? null,
        checked: positions.length,
        reasons,
        positions,
        structural,
        aggregate: judgement?.aggregate ?? {meanTopDelta: 0, maxTokenDelta: 0, maxTopDelta: 0, replay: {exact: 0, bounded: 0, skipped: 0, flips: 0}},
        thresholds,
        timings: {scoreMs, totalMs: performance.now() - started}
    }
}
