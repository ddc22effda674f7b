import {mkdir, stat, writeFile} from "node:fs/promises"
import {cpus, tmpdir} from "node:os"
import path from "node:path"
import {pathToFileURL} from "node:url"
import {writeTestModel, type PresetName} from "../../model-publisher/index.ts"
import {hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import {InferenceEngine, type Generation, type LoadedModel, type LoadedModelOptions} from "../../worker/engine/index.ts"
import {thresholdsFor, type VerificationThresholds} from "../thresholds.ts"
import type {VerificationReport} from "../types.ts"
import {verifierModelOptions} from "../verifierModelOptions.ts"
import {verifyReceipt} from "../verify/verifyReceipt.ts"

/**
 * Measures what honest receipts look like to the verifier: generates receipts with the real
 * engine under a grid of worker settings (threads, batch size, context size), re-checks each with
 * verifier settings that run the worker's kernels (`matched`) and ones that do not (`crossKernel`),
 * and records the distributions the thresholds are chosen from. Also measures the closest
 * dishonest case, the same weights at another precision, to show the margin left.
 *
 *     node --import tsx verifier/calibration/calibrate.ts [--presets tiny,small,125m] [--out file.json] [--gpu auto]
 *
 * On a GPU machine pass `--gpu auto`: the worker side then runs on the GPU, and the crossKernel
 * rows measure a GPU worker checked by a CPU verifier.
 */

type WeightType = "f32" | "f16" | "q8_0"

export interface CalibrationOptions {
    presets: PresetName[]
    /** Where models are written (kept between runs). */
    workDir: string
    /** Backend the workers generate on; the verifier always runs on the CPU. Defaults to `cpu`. */
    workerGpu?: "auto" | "cuda" | "vulkan" | "cpu"
    log?: (line: string) => void
}

/** One distribution: quantiles over every sample. */
export interface Distribution {
    samples: number
    min: number
    p50: number
    p99: number
    p999: number
    max: number
}

export interface CalibrationGroup {
    /** `<preset>/<type> <profile>`. */
    name: string
    receipts: number
    positions: number
    /** |claimed − verifier| log-probability of the claimed token, per position. */
    tokenDelta: Distribution
    /** Largest |claimed − verifier| over the top-list entries both name, per position. */
    topDelta: Distribution
    /** Mean |Δ| over every shared top-list entry of a receipt, per receipt. */
    receiptMeanTopDelta: Distribution
    /** Greedy positions: the verifier's best log-probability minus the claimed token's. */
    greedyMargin: Distribution
    /** Greedy positions whose claimed token is not the verifier's best. */
    greedyArgmaxFlips: number
    /** Sampled positions: the claimed token's rank among the verifier's candidates (1 = best). */
    sampledRank: Distribution
    /** Sampled positions: how far the replayed draw fell outside the claimed token's share, with the profile's flip band. */
    replayDistance: Distribution
    /** Sampled receipts: the share of positions outside the token's share with the tie band but inside with the flip band. */
    replayFlipShare: Distribution
    /** The same with no tie band: every near-tie taken in the verifier's order. */
    untiedReplayDistance: Distribution
}

export interface CalibrationResult {
    at: string
    machine: {cpus: number; node: string; workerBackend: string}
    grid: {workers: LoadedModelOptions[]; prompts: number; samplings: Sampling[]}
    honest: CalibrationGroup[]
    /** The same weights at another precision, checked with the worker's kernels: the nearest cheat. */
    precisionSwaps: CalibrationGroup[]
}

const WORKER_GRID: LoadedModelOptions[] = [
    {threads: 1, batchSize: 512, contextSize: 512},
    {threads: 2, batchSize: 512, contextSize: 384},
    {threads: 1, batchSize: 32, contextSize: 512},
    {threads: 2, batchSize: 8, contextSize: 256}
]
const SAMPLINGS: Sampling[] = [
    {maxTokens: 48, temperature: "0", topK: 40, topP: "1", seed: 0},
    {maxTokens: 48, temperature: "0.8", topK: 40, topP: "0.95", seed: 17},
    {maxTokens: 48, temperature: "1.2", topK: 0, topP: "1", seed: 23}
]
const SHORT_PROMPTS = ["The river ran past the old mill", "Once upon a time the king", "She opened the door and"]
// Past 64 tokens: where q8_0's batched kernels part from its single-token ones.
const LONG_PROMPT = Array.from({length: 5}, () => "the children played in the market and the people came from the town").join(" and ")
const PRESET_TYPES: Record<PresetName, WeightType[]> = {
    tiny: ["f32", "f16", "q8_0"],
    small: ["f32", "f16", "q8_0"],
    "125m": ["q8_0", "f16"]
}

/** A verifier's setting that does not run the worker's kernels: another batch size. */
const crossKernelOptions = (worker: LoadedModelOptions): LoadedModelOptions => ({batchSize: worker.batchSize === 8 ? 512 : 8})

// Everything measured, nothing judged: the thresholds are what this run is for.
const MEASURE_ONLY: VerificationThresholds = {
    profile: "custom",
    tokenLogprob: Infinity,
    topLogprob: Infinity,
    meanTopLogprob: Infinity,
    greedyMargin: Infinity,
    supportSlackNats: Infinity,
    supportSlackMass: Infinity,
    replayTieNats: 0,
    replayFlipNats: 0,
    replayFlipBudget: Infinity,
    replaySlack: Infinity,
    exactReplayAbove: null
}

export async function calibrate({presets, workDir, workerGpu = "cpu", log = () => {}}: CalibrationOptions): Promise<CalibrationResult> {
    await mkdir(workDir, {recursive: true})
    const verifierEngine = await InferenceEngine.create({gpu: "cpu", threads: 1})
    const workerEngine = workerGpu === "cpu" ? verifierEngine : await InferenceEngine.create({gpu: workerGpu})
    const honest = new Map<string, Collector>()
    const swaps = new Map<string, Collector>()
    const collector = (groups: Map<string, Collector>, name: string) => groups.get(name) ?? groups.set(name, new Collector(name)).get(name)!
    try {
        for (const preset of presets) {
            const files: Partial<Record<WeightType, string>> = {}
            for (const type of PRESET_TYPES[preset]) {
                const file = path.join(workDir, `${preset}-${type}-seed1.gguf`)
                if ((await stat(file).catch(() => null)) == null) {
                    log(`writing ${preset} ${type}`)
                    await writeTestModel({preset, seed: 1, type, path: file})
                }
                files[type] = file
            }
            // 125m is slow on a CPU: fewer settings and prompts.
            const grid = preset === "125m" ? [WORKER_GRID[0]!, WORKER_GRID[2]!] : WORKER_GRID
            const prompts = preset === "125m" ? [SHORT_PROMPTS[0]!, LONG_PROMPT] : [...SHORT_PROMPTS, LONG_PROMPT]
            for (const type of PRESET_TYPES[preset]) {
                for (const options of grid) {
                    log(`${preset} ${type}: worker ${JSON.stringify(options)}`)
                    const worker = await workerEngine.loadModel(files[type]!, {...options, sequences: 1})
                    const receipts: Receipt[] = []
                    try {
                        for (const prompt of prompts)
                            for (const sampling of SAMPLINGS)
                                receipts.push(receiptOf(prompt, sampling, await worker.generate({prompt, format: "text", sampling})))
                    } finally {
                        await worker.dispose()
                    }
                    // Grouped by verifier setting, so each model is loaded once per worker setting.
                    await checkAll(
                        verifierEngine,
                        files[type]!,
                        receipts,
                        () => ({}),
                        (report, untied, profile) => collector(honest, `${preset}/${type} ${profile}`).add(report, untied)
                    )
                    await checkAll(
                        verifierEngine,
                        files[type]!,
                        receipts,
                        () => crossKernelOptions(options),
                        (report, untied, profile) => collector(honest, `${preset}/${type} ${profile}`).add(report, untied)
                    )
                    // The nearest cheat: the same weights at the other precisions, with the worker's kernels.
                    for (const other of PRESET_TYPES[preset].filter((t) => t !== type))
                        await checkAll(
                            verifierEngine,
                            files[other]!,
                            receipts,
                            () => ({}),
                            (report, untied) => collector(swaps, `${preset}: ran ${type}, claimed ${other}`).add(report, untied)
                        )
                }
            }
        }
    } finally {
        if (workerEngine !== verifierEngine) await workerEngine.dispose()
        await verifierEngine.dispose()
    }
    return {
        at: new Date().toISOString(),
        machine: {cpus: cpus().length, node: process.version, workerBackend: workerGpu},
        grid: {workers: WORKER_GRID, prompts: SHORT_PROMPTS.length + 1, samplings: SAMPLINGS},
        honest: [...honest.values()].map((c) => c.summary()),
        precisionSwaps: [...swaps.values()].map((c) => c.summary())
    }
}

/** Re-checks receipts with one verifier model: the receipt's own settings (`verifierModelOptions`) with `change` over them. */
async function checkAll(
    engine: InferenceEngine,
    file: string,
    receipts: Receipt[],
    change: () => LoadedModelOptions,
    record: (report: VerificationReport, untied: VerificationReport, profile: VerificationThresholds["profile"]) => void
) {
    // The receipts of one worker setting share their batch size; the largest context holds them all.
    const options = receipts.map(verifierModelOptions).reduce((a, b) => (a.contextSize >= b.contextSize ? a : b))
    const model: LoadedModel = await engine.loadModel(file, {...options, ...change()})
    try {
        for (const receipt of receipts) {
            const profile = thresholdsFor(model.weightClass)
            // Replay distances with the profile's tie band, and without one to show what the band is for.
            const report = await verifyReceipt({
                receipt,
                model,
                thresholds: {
                    ...MEASURE_ONLY,
                    replayTieNats: profile.replayTieNats,
                    replayFlipNats: profile.replayFlipNats,
                    replaySlack: profile.replaySlack
                }
            })
            const untied = receipt.sampling.temperature === "0" ? report : await verifyReceipt({receipt, model, thresholds: MEASURE_ONLY})
            record(report, untied, profile.profile)
        }
    } finally {
        await model.dispose()
    }
}

function receiptOf(prompt: string, sampling: Sampling, generation: Generation): Receipt {
    return {
        version: 1,
        taskId: "calibration",
        worker: "calibration",
        model: {id: "calibration", sha256: "0".repeat(64)},
        prompt: {format: "text", sha256: hashPrompt(prompt)},
        sampling,
        engine: generation.engine,
        inputTokens: generation.inputTokens,
        outputTokens: generation.outputTokens,
        output: generation.output,
        stopReason: generation.stopReason,
        tokens: generation.tokens,
        timings: {startedAt: 0, promptMs: generation.timings.promptMs, generationMs: generation.timings.generationMs},
        log: []
    }
}

class Collector {
    readonly #name: string
    readonly #receiptMeans: number[] = []
    readonly #token: number[] = []
    readonly #top: number[] = []
    readonly #margin: number[] = []
    readonly #rank: number[] = []
    readonly #replay: number[] = []
    readonly #untiedReplay: number[] = []
    readonly #flipShare: number[] = []
    #flips = 0

    public constructor(name: string) {
        this.#name = name
    }

    public add(report: VerificationReport, untied: VerificationReport) {
        for (const position of untied.positions) if (position.replay != null) this.#untiedReplay.push(position.replay.distance)
        this.#receiptMeans.push(report.aggregate.meanTopDelta)
        const replayed = report.aggregate.replay.exact + report.aggregate.replay.bounded
        if (replayed > 0) this.#flipShare.push(report.aggregate.replay.flips / replayed)
        for (const position of report.positions) {
            this.#token.push(Math.abs(position.claimedLogprob - position.verifierLogprob))
            this.#top.push(position.maxTopDelta)
            if (position.replay != null) this.#replay.push(position.replay.flipDistance)
            if (position.replay == null) {
                this.#margin.push(position.marginToTop1)
                if (position.rankInVerifierTopK !== 1) this.#flips++
            } else {
                this.#rank.push(position.rankInVerifierTopK ?? Infinity)
            }
        }
    }

    public summary(): CalibrationGroup {
        return {
            name: this.#name,
            receipts: this.#receiptMeans.length,
            positions: this.#token.length,
            tokenDelta: distribution(this.#token),
            topDelta: distribution(this.#top),
            receiptMeanTopDelta: distribution(this.#receiptMeans),
            greedyMargin: distribution(this.#margin),
            greedyArgmaxFlips: this.#flips,
            sampledRank: distribution(this.#rank),
            replayDistance: distribution(this.#replay),
            untiedReplayDistance: distribution(this.#untiedReplay),
            replayFlipShare: distribution(this.#flipShare)
        }
    }
}

function distribution(values: number[]): Distribution {
    const sorted = [...values].sort((a, b) => a - b)
    const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
    return {samples: sorted.length, min: sorted[0] ?? 0, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted.at(-1) ?? 0}
}

/** The result as markdown tables, for docs/verification.md. */
export function formatCalibration(result: CalibrationResult): string {
    const e = (value: number) => (value === 0 ? "0" : Number.isFinite(value) ? value.toExponential(1) : "∞")
    const rows = (groups: CalibrationGroup[]) =>
        groups.map(
            (g) =>
                `| ${g.name} | ${g.receipts} | ${g.positions} | ${e(g.tokenDelta.p99)} / ${e(g.tokenDelta.max)} | ${e(g.topDelta.p99)} / ${e(g.topDelta.max)} | ` +
                `${e(g.receiptMeanTopDelta.min)} / ${e(g.receiptMeanTopDelta.p50)} / ${e(g.receiptMeanTopDelta.max)} | ${e(g.greedyMargin.max)} (${g.greedyArgmaxFlips}) | ${g.sampledRank.max} | ` +
                `${e(g.untiedReplayDistance.max)} / ${e(g.replayDistance.max)} | ${(100 * g.replayFlipShare.max).toFixed(1)}% |`
        )
    const header =
        "| group | receipts | positions | token Δ p99 / max | top Δ p99 / max | receipt mean top Δ min / p50 / max | greedy margin max (flips) | sampled rank max | replay distance max, no band / flip band | near-tie flips, worst receipt |\n|---|---|---|---|---|---|---|---|---|---|"
    return [
        `Honest (${result.machine.workerBackend} workers, CPU verifier, ${result.at}):`,
        "",
        header,
        ...rows(result.honest),
        "",
        "Same weights, other precision (verifier with the worker's kernels):",
        "",
        header,
        ...rows(result.precisionSwaps)
    ].join("\n")
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
    const flag = (name: string) => {
        const i = process.argv.indexOf(`--${name}`)
        return i === -1 ? undefined : process.argv[i + 1]
    }
    const presets = (flag("presets") ?? "tiny,small").split(",") as PresetName[]
    const result = await calibrate({
        presets,
        workDir: path.join(tmpdir(), "weavelm-calibration"),
        workerGpu: (flag("gpu") ?? "cpu") as CalibrationOptions["workerGpu"],
        log: (line) => process.stderr.write(`${line}\n`)
    })
    const out = flag("out")
    if (out != null) await writeFile(out, JSON.stringify(result, null, 2) + "\n")
    process.stdout.write(formatCalibration(result) + "\n")
}
