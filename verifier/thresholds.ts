/**
 * Tolerances of the re-check. Honest numbers differ between a worker's token-by-token decoding and
 * the verifier's one-pass re-score (other matrix kernels for batches), so nothing is compared for
 * equality. docs/verification.md lists the honest distributions and the precision swaps the values
 * were chosen from.
 */
export interface VerificationThresholds {
    /** Which profile these are: `cpu/<weight class>`, `crossKernel/<weight class>`, or `custom`. */
    profile: string
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
    /**
     * CPU profiles: a receipt whose one-pass re-score fails, or passes with a mean top-list |Δ| above
     * this, is decided by a decode replay instead, which an honest receipt matches bit for bit
     * (`decodeReplayThresholds`). Set below the smallest precision swap the class shows, so that a swap
     * the re-score's tolerances would let through still meets the replay. Null: the re-score decides
     * alone (GPU receipts, which no CPU replays exactly).
     */
    exactReplayAbove: number | null
}

/**
 * The precision class of the model file the verifier loaded (the one whose SHA-256 the task names):
 * honest noise grows with coarser weights, since every quantized dot product rounds its activations.
 */
export type WeightClass = "f32" | "f16" | "q8_0" | "q4"

/**
 * Where the worker's kernels ran, as the registry records it (`Hardware`, first word). Never read
 * from the receipt: a tolerance the receipt could choose would be a tolerance every cheat chooses.
 */
export type HardwareClass = "cpu" | "gpu"

const REPLAY_EXACT = {replayTieNats: 0.2, replayFlipNats: 0.2, replayFlipBudget: 0, replaySlack: 0.02}
const REPLAY_QUANTIZED = {replayTieNats: 0.5, replayFlipNats: 1.0, replayFlipBudget: 0.03, replaySlack: 0.05}

/**
 * How far a decode replay may stray from an honest CPU receipt: the same kernels give the same
 * floats, and JSON carries a double exactly, so only other writers' float formatting is allowed for.
 */
export const DECODE_REPLAY_NATS = 1e-6

/**
 * CPU workers and a CPU verifier, both with flash attention off (the engine's default), so that the
 * worker's decode does not depend on its thread count. Measured honest worst cases (docs/verification.md,
 * "Calibration on trained weights"), over the trained fixture and the generated tiny and small models:
 * mean top-list |Δ| f32 3.8e-4, f16 4.5e-3, q8_0 0.099 (generated weights; 8.8e-5 trained), q4 2.3e-3.
 * The nearest dishonest receipts: f16 weights claimed as f32 1.85e-3 (trained) to 7.2e-3; q8_0 claimed as
 * f16 0.035 (trained) to 0.19; q4 claimed as q8_0 0.39 to 0.47; q8_0 claimed as q4 0.41.
 */
export const CPU_THRESHOLDS: Readonly<Record<WeightClass, VerificationThresholds>> = {
    f32: {
        profile: "cpu/f32",
        tokenLogprob: 0.03,
        topLogprob: 0.05,
        meanTopLogprob: 1e-3,
        greedyMargin: 0.03,
        supportSlackNats: 0.03,
        supportSlackMass: 0.01,
        ...REPLAY_EXACT,
        exactReplayAbove: 2e-4
    },
    f16: {
        profile: "cpu/f16",
        tokenLogprob: 0.15,
        topLogprob: 0.25,
        meanTopLogprob: 0.015,
        greedyMargin: 0.15,
        supportSlackNats: 0.15,
        supportSlackMass: 0.02,
        ...REPLAY_EXACT,
        exactReplayAbove: 5e-4
    },
    q8_0: {
        profile: "cpu/q8_0",
        tokenLogprob: 0.6,
        topLogprob: 1.0,
        meanTopLogprob: 0.15,
        greedyMargin: 0.6,
        supportSlackNats: 0.6,
        supportSlackMass: 0.05,
        ...REPLAY_QUANTIZED,
        exactReplayAbove: 5e-3
    },
    q4: {
        profile: "cpu/q4",
        tokenLogprob: 0.6,
        topLogprob: 1.0,
        meanTopLogprob: 0.15,
        greedyMargin: 0.6,
        supportSlackNats: 0.6,
        supportSlackMass: 0.05,
        ...REPLAY_QUANTIZED,
        exactReplayAbove: 0.01
    }
}

/**
 * A worker the registry records on a GPU, checked on the CPU: other kernels altogether. No GPU was at
 * hand to calibrate these; they are the widest per-position bounds that still flag the precision steps
 * the calibration shows on CPU kernels (q4 for q8_0 at 0.39 and more, q8_0 for f16 at 0.035 and more).
 */
export const GPU_THRESHOLDS: Readonly<Record<WeightClass, VerificationThresholds>> = {
    f32: {...CPU_THRESHOLDS.f16, profile: "crossKernel/f32", meanTopLogprob: 0.03, exactReplayAbove: null},
    f16: {...CPU_THRESHOLDS.q8_0, profile: "crossKernel/f16", meanTopLogprob: 0.03, exactReplayAbove: null},
    q8_0: {
        profile: "crossKernel/q8_0",
        tokenLogprob: 1.5,
        topLogprob: 2.5,
        meanTopLogprob: 0.3,
        greedyMargin: 1.5,
        supportSlackNats: 1.5,
        supportSlackMass: 0.1,
        replayTieNats: 0.2,
        replayFlipNats: 2.0,
        replayFlipBudget: 0.08,
        replaySlack: 0.1,
        exactReplayAbove: null
    },
    q4: {
        profile: "crossKernel/q4",
        tokenLogprob: 1.5,
        topLogprob: 2.5,
        meanTopLogprob: 0.3,
        greedyMargin: 1.5,
        supportSlackNats: 1.5,
        supportSlackMass: 0.1,
        replayTieNats: 0.2,
        replayFlipNats: 2.0,
        replayFlipBudget: 0.08,
        replaySlack: 0.1,
        exactReplayAbove: null
    }
}

/** llama.cpp's `general.file_type` (llama_ftype) → the class whose honest noise it has. */
export function weightClassOf(fileType: number | undefined): WeightClass {
    if (fileType === 0) return "f32"
    // 1 f16, 32 bf16
    if (fileType === 1 || fileType === 32) return "f16"
    if (fileType === 7) return "q8_0"
    return "q4"
}

/** The registry's `Hardware` text ("cpu", "cuda NVIDIA H100 ...") → its class; anything but a CPU is `gpu`. */
export function hardwareClassOf(hardware: string | undefined): HardwareClass {
    const backend = hardware?.trim().split(/\s+/)[0]?.toLowerCase()
    return backend == null || backend === "" || backend === "cpu" ? "cpu" : "gpu"
}

/** The profile for a model of `weights` served on `hardware`; both are facts the verifier checks itself. */
export function thresholdsFor(weights: WeightClass, hardware: HardwareClass = "cpu"): VerificationThresholds {
    return (hardware === "cpu" ? CPU_THRESHOLDS : GPU_THRESHOLDS)[weights]
}

/**
 * The tolerances of a decode replay of a receipt judged by `profile`. A CPU profile's replay runs the
 * worker's own kernels (flash attention off, the receipt's batch size), which reproduce an honest
 * receipt bit for bit at any thread count and with other sequences sharing the worker's batches
 * (docs/verification.md, "Two stages"); every tolerance is then `DECODE_REPLAY_NATS`. The sampler's
 * draw keeps a small slack: it is rebuilt in doubles from the top list, where llama.cpp sums floats.
 * A GPU profile's replay is as cross-kernel as its re-score and keeps the profile.
 */
export function decodeReplayThresholds(profile: VerificationThresholds): VerificationThresholds {
    if (profile.exactReplayAbove == null) return profile
    const exact = DECODE_REPLAY_NATS
    return {
        profile: `${profile.profile}/decode-replay`,
        tokenLogprob: exact,
        topLogprob: exact,
        meanTopLogprob: exact,
        greedyMargin: exact,
        supportSlackNats: exact,
        supportSlackMass: exact,
        replayTieNats: exact,
        replayFlipNats: exact,
        replayFlipBudget: 0,
        replaySlack: 1e-3,
        exactReplayAbove: null
    }
}
