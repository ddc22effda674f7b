import type {Token} from "node-llama-cpp"
import type {Engine, Receipt, Sampling, TokenRecord} from "../sdk/receipt/index.ts"
import type {HardwareClass, VerificationThresholds, WeightClass} from "./thresholds.ts"

/**
 * What the verifier needs of a loaded model; `LoadedModel` (worker/engine) provides it. Load it
 * from the file whose SHA-256 the task names, with the receipt's batch size (see
 * `verifierModelOptions`), or the cross-kernel tolerances apply.
 */
export interface VerifierModel {
    /** The backend, threads, batch and context size the re-score runs with. */
    readonly engine: Engine
    readonly contextSize: number
    /** The precision class of the loaded weights: decides the profile (`thresholdsFor`). */
    readonly weightClass: WeightClass
    /** Token ids run from 0 to this, exclusive; the native calls must never see others. */
    readonly vocabularySize: number
    /**
     * Records for the output as the model sees them: re-scored in one pass (`mode: "prefill"`, the
     * default) or replayed token by token with the worker's kernels (`"decode"`, what referees run).
     */
    score(request: {
        inputTokens: readonly number[]
        outputTokens: readonly number[]
        topK?: number
        mode?: "prefill" | "decode"
    }): Promise<TokenRecord[]>
    tokenizePrompt(prompt: string, format: "text" | "chat"): Token[]
    detokenize(tokens: readonly Token[], specialTokens?: boolean): string
    isEogToken(token: number): boolean
}

/**
 * What the task (escrow record, Task-Result, receipt upload tags) says, to hold the receipt
 * against. Every field is optional: a check whose evidence is missing is reported `skipped`.
 */
export interface ExpectedTask {
    taskId?: string
    /** Model-Id (the Arweave transaction of the weights). */
    modelId?: string
    modelSha256?: string
    /** The prompt text as the task delivered it; lets the verifier re-hash and re-tokenize it. */
    prompt?: string
    /** SHA-256 of the prompt, when the text itself is not at hand. */
    promptSha256?: string
    format?: "text" | "chat"
    sampling?: Sampling
    inputTokenCount?: number
    outputTokenCount?: number
    /** The Receipt-Hash the worker committed to in Task-Result (and its upload's tag). */
    receiptHash?: string
    /** The output text the worker sent in Task-Result. */
    output?: string
}

export interface VerifyReceiptOptions {
    /** The receipt as parsed; checked against the schema again, since it came from a stranger. */
    receipt: Receipt | unknown
    /** The receipt exactly as stored on Arweave: hashed for Receipt-Hash and compared with `receipt`. */
    receiptBytes?: Uint8Array
    expected?: ExpectedTask
    model: VerifierModel
    /**
     * Where the worker ran, as the registry records it (never as the receipt says). Defaults to `cpu`:
     * a worker the registry does not record on a GPU is held to CPU kernels.
     */
    hardware?: HardwareClass
    /** Defaults to `thresholdsFor(model.weightClass, hardware)`. */
    thresholds?: VerificationThresholds
    /**
     * When the output is replayed token by token with the worker's kernels (`score`'s decode mode) rather
     * than re-scored in one pass:
     * - `"escalate"` (the default): a re-score first; a replay decides when the re-score fails or lands
     *   above the profile's `exactReplayAbove`. An honest receipt costs a re-score, rarely a replay.
     * - `"always"`: the replay alone. Referees, whose votes must not depend on the machine.
     * - `"never"`: the re-score alone.
     */
    replay?: "escalate" | "always" | "never"
}

export type CheckStatus = "pass" | "fail" | "skipped"

/** One check of the receipt against the task and the model, short of re-scoring. */
export interface StructuralCheck {
    name: string
    status: CheckStatus
    detail: string
}

/** The verdict on one output token. */
export interface PositionReport {
    /** Index in the output, from 0. */
    position: number
    token: number
    claimedLogprob: number
    verifierLogprob: number
    /** 1 for the verifier's best token; null when it is not among the verifier's top-k. */
    rankInVerifierTopK: number | null
    verifierTop1: number
    /** The verifier's best log-probability minus the claimed token's (>= 0). */
    marginToTop1: number
    /** Mean |claimed − verifier| over the tokens both top lists name. */
    meanTopDelta: number
    /** Most |claimed − verifier| over the tokens both top lists name. */
    maxTopDelta: number
    /** Sampled tasks: the replayed draw and the claimed token's share of it. */
    replay?: {
        mode: "exact" | "bounded" | "skipped"
        u: number | null
        interval: [number, number] | null
        /** How far the draw lies outside the token's share, near-ties within `replayTieNats` taken either way. */
        distance: number
        /** The same with the wider `replayFlipNats` band. */
        flipDistance: number
    }
    /** Whether the task's sampling picks this token from the verifier's numbers, within the profile's near-tie bands. */
    chosen: boolean
    ok: boolean
    why?: string
}

export interface VerificationReport {
    verdict: "valid" | "invalid"
    /** First output position judged bad, or null when every position passed. */
    firstBadPosition: number | null
    /** Output positions judged. */
    checked: number
    /** One line per failure, structural ones first. */
    reasons: string[]
    positions: PositionReport[]
    structural: StructuralCheck[]
    /** Whole-receipt figures the aggregate thresholds apply to. */
    aggregate: {
        meanTopDelta: number
        maxTokenDelta: number
        maxTopDelta: number
        /**
         * Sampled tasks: positions whose draw was replayed exactly, within bounds, or not at all, and
         * how many landed outside the claimed token's share only by a possible near-tie flip.
         */
        replay: {exact: number; bounded: number; skipped: number; flips: number}
        /**
         * Choices the numbers accept only through a tolerance: a greedy token that is not the verifier's
         * best, a sampled token that the seed's draw reaches only across a near-tie. A CPU re-score with
         * any of these leaves the verdict to a decode replay, where no tolerance is needed.
         */
        nearTies: number
    }
    /** The profile that decided: the re-score's, or its `decodeReplayThresholds` when a replay decided. */
    thresholds: VerificationThresholds
    /** What decided the verdict: the one-pass re-score, or a decode replay of the worker's kernels. */
    decidedBy: "rescore" | "replay"
    /** Set when a re-score was followed by a replay: what the re-score found and why it did not decide. */
    rescore?: {verdict: "valid" | "invalid"; firstBadPosition: number | null; meanTopDelta: number; escalated: string}
    /** `scoreMs`: the one-pass re-score; `replayMs`: the decode replay (0 when none ran). */
    timings: {scoreMs: number; replayMs: number; totalMs: number}
}
