import {readdir} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {fileURLToPath} from "node:url"
import {getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type Token} from "node-llama-cpp"
import {encodeReceipt, hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import {verifierModelOptions, verifyReceipt, type VerificationReport, type VerifierModel} from "../../verifier/index.ts"
import {InferenceEngine, type Generation, type LoadedModel} from "../../worker/engine/index.ts"
import {benchModel} from "../benchModel.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const OUTPUT_TOKENS = 256
const ROUNDS = 3
const GOAL = 4
/** The verifier's thread counts; the worker generates with 1, the CPU default. */
const VERIFY_THREADS = [1, 2] as const
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/models")
const SAMPLINGS: Record<string, Sampling> = {
    greedy: {maxTokens: OUTPUT_TOKENS, temperature: "0", topK: 40, topP: "1", seed: 0},
    sampled: {maxTokens: OUTPUT_TOKENS, temperature: "0.8", topK: 40, topP: "0.95", seed: 42}
}

interface Target {
    name: string
    file: string
    prompt: string
    /** Defaults to the model's training context. */
    contextSize?: number
    /** Whether the >= 4x goal applies: the 125m model stands for real ones. */
    goal: boolean
}

/** Wall and process CPU time (every thread, the native reads included) of one call. */
interface Timing {
    wallMs: number
    cpuMs: number
}

/**
 * What checking a receipt costs against producing it, every figure from the same run with the
 * phases alternating round by round so all see the same machine load:
 * - generate: the worker's generate() of 256 tokens with its receipt records, 1 CPU thread;
 * - verify: verifyReceipt() of the stored receipt (structural checks, the one-pass re-score, judging
 *   every token, and the decode replay when the re-score does not decide), with 1 and with 2 threads;
 * - bare prefill: the same input and output tokens through one `evaluateWithoutGeneratingNewTokens`
 *   with the verifier's settings, nothing read or recorded: the floor any one-pass verifier sits on;
 * - referee replay: verifyReceipt() as a referee runs it, flash attention off and the output decoded
 *   token by token (RefereeDuty), 1 thread.
 * On the 125m test model (q8_0, its default) and on each trained fixture in test/fixtures/models.
 * Models are loaded once, as a verifier checking many receipts would; the verifier's load time is
 * reported apart. The load average is printed at both ends: on a shared machine it says what the
 * wall times are worth.
 */
export const suite: BenchSuite = {
    name: "verification",
    description: "generate() vs verifyReceipt() (1 and 2 threads), a bare prefill and the referee's decode replay, 256 tokens",
    async run({workDir, log}) {
        const rows: BenchRow[] = [loadRow("start", log)]
        const targets: Target[] = [
            {
                name: "125m q8_0",
                file: await benchModel(workDir, log),
                prompt: "The river ran past the old mill and",
                contextSize: 1024,
                goal: true
            }
        ]
        const fixtures = (await readdir(FIXTURES).catch(() => [])).filter((name) => name.endsWith(".gguf")).sort()
        for (const name of fixtures)
            targets.push({name: name.replace(/\.gguf$/, ""), file: path.join(FIXTURES, name), prompt: "Once upon a time", goal: false})
        if (fixtures.length === 0) {
            log("no trained fixture in test/fixtures/models: its rows are skipped")
            rows.push({suite: "verification", name: "trained fixture", value: 0, unit: "", note: "skipped: no test/fixtures/models/*.gguf"})
        }
        const engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
        // Plain node-llama-cpp for the bare prefill, with the same fixed thread counts as the engine.
        const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0})
        try {
            for (const target of targets) rows.push(...(await measure(target, engine, llama, log)))
        } finally {
            await llama.dispose()
            await engine.dispose()
        }
        rows.push(loadRow("end", log))
        return rows
    }
}

function loadRow(when: "start" | "end", log: (line: string) => void): BenchRow {
    const [one, five, fifteen] = os.loadavg().map((value) => value.toFixed(2))
    log(`load average at the ${when}: ${one}, ${five}, ${fifteen} (1, 5, 15 min) on ${os.cpus().length} CPUs`)
    return {
        suite: "verification",
        name: `load average at the ${when}`,
        value: Number(one),
        unit: "",
        note: `1, 5, 15 min: ${one}, ${five}, ${fifteen}; ${os.cpus().length} CPUs`
    }
}

async function measure(target: Target, engine: InferenceEngine, llama: Llama, log: (line: string) => void): Promise<BenchRow[]> {
    const worker = await engine.loadModel(target.file, {contextSize: target.contextSize, threads: 1})
    const loaded: {dispose(): Promise<void>}[] = [worker]
    try {
        // Every generation of a sampling is the same (the engine is deterministic), so the first decides the models' settings.
        const first = receiptOf(
            target.prompt,
            SAMPLINGS.greedy!,
            await worker.generate({prompt: target.prompt, format: "text", sampling: SAMPLINGS.greedy!})
        )
        const options = verifierModelOptions(first)
        const loading = performance.now()
        const verifiers = new Map<number, LoadedModel>()
        for (const threads of VERIFY_THREADS) verifiers.set(threads, await engine.loadModel(target.file, {...options, threads}))
        const loadMs = performance.now() - loading
        const referee = await engine.loadModel(target.file, {...options, threads: 1, flashAttention: false})
        const plain = await llama.loadModel({modelPath: target.file})
        loaded.push(...verifiers.values(), referee, plain)
        const prefills = new Map<number, LlamaContextSequence>()
        for (const threads of VERIFY_THREADS) {
            const context = await plain.createContext({
                contextSize: options.contextSize,
                batchSize: options.batchSize,
                sequences: 1,
                threads: {ideal: threads, min: threads}
            })
            prefills.set(threads, context.getSequence())
        }

        const rows: BenchRow[] = []
        for (const [name, sampling] of Object.entries(SAMPLINGS))
            rows.push(...(await compare(`${target.name} ${name}`, target, sampling, {worker, verifiers, prefills, referee}, log)))
        rows.push({
            suite: "verification",
            name: `${target.name}: verifier model load`,
            value: loadMs / VERIFY_THREADS.length,
            unit: "ms",
            note: "once per model, not per receipt"
        })
        return rows
    } finally {
        for (const model of loaded.reverse()) await model.dispose()
    }
}

interface Models {
    worker: LoadedModel
    verifiers: Map<number, LoadedModel>
    prefills: Map<number, LlamaContextSequence>
    referee: LoadedModel
}

/** Each phase once per round, alternating; medians over the rounds. */
async function compare(name: string, target: Target, sampling: Sampling, models: Models, log: (line: string) => void): Promise<BenchRow[]> {
    const times = new Map<string, Timing[]>()
    const record = (phase: string, timing: Timing) => times.set(phase, [...(times.get(phase) ?? []), timing])
    // The re-score alone, inside verifyReceipt(), by verifier threads.
    const scoreMs = new Map<number, number[]>()
    const replayMs = new Map<number, number[]>()
    let receipt: Receipt | null = null
    let bytesPerToken = 0
    const reports = new Map<string, VerificationReport>()
    for (let round = 0; round < ROUNDS; round++) {
        log(`${name}: round ${round + 1} of ${ROUNDS}`)
        const generation = await timed(
            (timing) => record("generate", timing),
            () => models.worker.generate({prompt: target.prompt, format: "text", sampling})
        )
        receipt = receiptOf(target.prompt, sampling, generation)
        const {bytes, hash} = encodeReceipt(receipt)
        bytesPerToken = bytes.length / receipt.outputTokens.length
        const expected = {
            prompt: target.prompt,
            format: "text" as const,
            sampling,
            receiptHash: hash,
            output: receipt.output,
            inputTokenCount: receipt.inputTokens.length,
            outputTokenCount: receipt.outputTokens.length
        }
        const check = (model: VerifierModel, replay?: "always") =>
            verifyReceipt({receipt: JSON.parse(bytes.toString("utf8")), receiptBytes: bytes, model, expected, replay})
        for (const [threads, verifier] of models.verifiers) {
            const report = await timed(
                (timing) => record(`verify ${threads}`, timing),
                () => check(verifier)
            )
            scoreMs.set(threads, [...(scoreMs.get(threads) ?? []), report.timings.scoreMs])
            replayMs.set(threads, [...(replayMs.get(threads) ?? []), report.timings.replayMs])
            reports.set(`verify ${threads}`, report)
        }
        const tokens = [...receipt.inputTokens, ...receipt.outputTokens] as Token[]
        for (const [threads, sequence] of models.prefills) {
            await sequence.clearHistory()
            await timed(
                (timing) => record(`prefill ${threads}`, timing),
                () => sequence.evaluateWithoutGeneratingNewTokens(tokens)
            )
        }
        reports.set(
            "referee",
            await timed(
                (timing) => record("referee", timing),
                () => check(models.referee, "always")
            )
        )
    }
    // The receipts are honest: a verdict against one is a calibration finding, printed rather than thrown, so the costs still come out.
    for (const [phase, report] of reports)
        if (report.verdict !== "valid")
            log(`${name}: WARNING ${phase} judged the honest receipt invalid: ${report.reasons.slice(0, 2).join("; ")}`)

    const wall = (phase: string) => median(times.get(phase)!.map((timing) => timing.wallMs))
    const cpu = (phase: string) => median(times.get(phase)!.map((timing) => timing.cpuMs))
    const seconds = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`)
    const size = `${receipt!.outputTokens.length} tokens after a ${receipt!.inputTokens.length}-token prompt, median of ${ROUNDS} alternating rounds`
    const rows: BenchRow[] = []
    for (const threads of VERIFY_THREADS) {
        const ratio = wall("generate") / wall(`verify ${threads}`)
        const goal = target.goal && threads === 1 ? {goal: `>= ${GOAL}x`, pass: ratio >= GOAL} : {}
        const report = reports.get(`verify ${threads}`)!
        log(
            `${name}: generate / verify with ${threads} verifier thread${threads === 1 ? "" : "s"}: ${ratio.toFixed(2)}x wall, ` +
                `${(cpu("generate") / cpu(`verify ${threads}`)).toFixed(2)}x CPU`
        )
        rows.push({
            suite: "verification",
            name: `${name}: generate / verify, ${threads} verifier thread${threads === 1 ? "" : "s"}`,
            value: ratio,
            unit: "x",
            ...goal,
            note:
                `${size}: generate ${seconds(wall("generate"))} (1 thread), verify ${seconds(wall(`verify ${threads}`))} ` +
                `(re-score ${seconds(median(scoreMs.get(threads)!))}, replay ${seconds(median(replayMs.get(threads)!))}); by CPU time ${(cpu("generate") / cpu(`verify ${threads}`)).toFixed(2)}x; ${verdict(report)}`
        })
        rows.push({
            suite: "verification",
            name: `${name}: verify / bare prefill, ${threads} thread${threads === 1 ? "" : "s"}`,
            value: wall(`verify ${threads}`) / wall(`prefill ${threads}`),
            unit: "x",
            note:
                `prefill ${seconds(wall(`prefill ${threads}`))} for the same tokens in one evaluate, nothing read; by CPU time ` +
                `${(cpu(`verify ${threads}`) / cpu(`prefill ${threads}`)).toFixed(2)}x`
        })
    }
    rows.push({
        suite: "verification",
        name: `${name}: referee decode replay / generate`,
        value: wall("referee") / wall("generate"),
        unit: "x",
        note: `replay ${seconds(wall("referee"))} (flash attention off, 1 thread); by CPU time ${(cpu("referee") / cpu("generate")).toFixed(2)}x; ${verdict(reports.get("referee")!)}`
    })
    rows.push({
        suite: "verification",
        name: `${name}: receipt bytes per output token`,
        value: bytesPerToken,
        unit: "B",
        note: "JSON receipt with the top 5 per token"
    })
    return rows
}

/** The verdict and how far the numbers were from the receipt's. */
function verdict(report: VerificationReport): string {
    const {maxTokenDelta, meanTopDelta} = report.aggregate
    const replayed =
        report.rescore == null ? "" : `; re-score mean top |Δ| ${report.rescore.meanTopDelta.toExponential(1)}, then a decode replay`
    return (
        `${report.verdict} by ${report.decidedBy} (${report.thresholds.profile}; token |Δ| max ${maxTokenDelta.toExponential(1)}, ` +
        `mean top |Δ| ${meanTopDelta.toExponential(1)}${replayed})`
    )
}

async function timed<T>(into: (timing: Timing) => void, run: () => Promise<T>): Promise<T> {
    const cpu = process.cpuUsage()
    const started = performance.now()
    const result = await run()
    const wallMs = performance.now() - started
    const {user, system} = process.cpuUsage(cpu)
    into({wallMs, cpuMs: (user + system) / 1000})
    return result
}

function receiptOf(prompt: string, sampling: Sampling, generation: Generation): Receipt {
    return {
        version: 1,
        taskId: "bench",
        worker: "bench",
        model: {id: "bench", sha256: "0".repeat(64)},
        prompt: {format: "text", sha256: hashPrompt(prompt)},
        sampling,
        engine: generation.engine,
        inputTokens: generation.inputTokens,
        outputTokens: generation.outputTokens,
        output: generation.output,
        stopReason: generation.stopReason,
        tokens: generation.tokens,
        timings: {startedAt: Date.now(), promptMs: generation.timings.promptMs, generationMs: generation.timings.generationMs},
        log: []
    }
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
