import type {Engine} from "../sdk/receipt/index.ts"

/**
 * Tolerances of the re-check. Honest numbers differ between a worker's token-by-token decoding and
 * the verifier's one-pass re-score (other kernels, other batch shapes), so nothing is compared for
 * equality. The values come from measurement: docs/verification.md lists the honest distributions
 * they were chosen from and what each one catches.
 */
export interface VerificationThresholds {
    /** Which measured profile these are (or `custom`). */
    profile: "matched" | "crossKernel" | "custom"
    /** Most |claimed − verifier| log-probability of a claimed output token, in nats. */
    tokenLogprob: number
    /** Most |claimed − verifier| log-probability of any token both top lists name, in nats. */
    topLogprob: number
    /**
     * Most mean |claimed − verifier| log-probability over every top-list entry both sides name, over
     * the whole output: the aggregate that exposes the same weights at another precision.
     */
    meanTopLogprob: number
    /** Greedy tasks: how many nats below the verifier's best token the claimed one may be (near-ties). */
    greedyMargin: number
    /** Sampled tasks: how many nats below the k-th token a token outside the top-k may be. */
    supportSlackNats: number
    /** Sampled tasks: how much probability mass beyond top-p may rank above a claimed token. */
    supportSlackMass: number
    /**
     * Sampled tasks: log-probability gap (nats) within which two tokens may stand in either order in
     * the worker's ranking; a near-tie whose order flipped moves a token's share of the draw by a
     * whole neighbour's share.
     */
    replayTieNats: number
    /**
     * Sampled tasks: a wider band for kernels that reorder more. A draw that lands outside the
     * token's share with `replayTieNats` but inside it with this band is a possible honest flip:
     * allowed on `replayFlipBudget` of the positions, while a draw outside even this band fails.
     */
    replayFlipNats: number
    /** Sampled tasks: the share of replayed positions allowed to be possible flips (0: none). */
    replayFlipBudget: number
    /** Sampled tasks: how far (in the [0, 1] draw) the replayed draw may fall outside the claimed token's share. */
    replaySlack: number
}

/**
 * The verifier runs the kernels the worker ran: both on the CPU with the same prompt batch size.
 * Measured honest worst cases (CPU, tiny/small/125m test models, f32/f16/q8_0, 1 and 2 threads,
 * batch 8 to 512, context 256 to 512; docs/verification.md): claimed-token |Δ| 3.0e-2, top-list
 * entry |Δ| 6.2e-2, a receipt's mean top-list |Δ| 1.0e-2, greedy margin 1.1e-2, replay distance 0
 * with the tie band; q8_0 re-scores bit for bit. Each bound is 3x to 9x its honest worst; the mean
 * bound sits 5x above honest and 3x below the nearest cheat measured (q8_0 against f16/f32 weights,
 * mean 0.15 to 0.28).
 */
export const MATCHED_THRESHOLDS: VerificationThresholds = {
    profile: "matched",
    tokenLogprob: 0.1,
    topLogprob: 0.25,
    meanTopLogprob: 0.05,
    greedyMargin: 0.1,
    supportSlackNats: 0.1,
    supportSlackMass: 0.02,
    replayTieNats: 0.2,
    replayFlipNats: 0.2,
    replayFlipBudget: 0,
    replaySlack: 0.02
}

/**
 * Other kernels than the worker's: another backend (a GPU worker checked on a CPU), or another
 * prompt batch size. q8_0 then differs by as much as a precision swap does (measured on the CPU:
 * claimed-token |Δ| 0.44, top entries 1.0, receipt mean 0.2, greedy margin 0.56), so these bounds
 * catch edited, fabricated and foreign-model output but cannot tell q8_0 from f16 weights.
 * Calibrated on CPU kernel pairs only, not on a GPU: docs/verification.md says how to measure one.
 */
export const CROSS_KERNEL_THRESHOLDS: VerificationThresholds = {
    profile: "crossKernel",
    tokenLogprob: 1.5,
    topLogprob: 2.5,
    meanTopLogprob: 0.6,
    greedyMargin: 1.5,
    supportSlackNats: 1.5,
    supportSlackMass: 0.1,
    replayTieNats: 0.2,
    replayFlipNats: 2.0,
    replayFlipBudget: 0.08,
    replaySlack: 0.1
}

/** The settings that decide which profile applies; `threads` only matters on the worker's side. */
export type KernelSettings = Pick<Engine, "backend" | "batchSize"> & Partial<Pick<Engine, "threads">>

/**
 * Tokens a sequence may hold before a multi-threaded worker's single-token decodes leave the
 * kernels score() runs. llama.cpp pads the attended cache to 256 cells; from 512 on, ggml's flash
 * attention splits a single query row's cache between the threads and merges their partial sums,
 * which rounds differently from the batched rows a verifier decodes (measured: 125m q8_0, 2 worker
 * threads, every record from `inputTokens + position = 257` on differs, by up to 0.57 nats on the token
 * and 0.76 in the top lists). One thread never splits, so 1-thread receipts re-score bit for bit at any length.
 */
export const SPLIT_ATTENTION_TOKENS = 256

/**
 * `matched` when both ran on the CPU with the same batch size, and the worker either ran 1 thread or
 * held at most `SPLIT_ATTENTION_TOKENS` tokens (`tokens`: input and output together); else `crossKernel`.
 */
export function thresholdsFor(worker: KernelSettings, verifier: KernelSettings, tokens = 0): VerificationThresholds {
    const splitAttention = (worker.threads ?? 1) > 1 && tokens > SPLIT_ATTENTION_TOKENS
    const matched = worker.backend === "cpu" && verifier.backend === "cpu" && worker.batchSize === verifier.batchSize && !splitAttention
    return matched ? MATCHED_THRESHOLDS : CROSS_KERNEL_THRESHOLDS
}
