import {encodeReceipt, hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import {verifierModelOptions, verifyReceipt, type VerificationReport} from "../../verifier/index.ts"
import {InferenceEngine, type Generation, type LoadedModel} from "../../worker/engine/index.ts"
import {benchModel} from "../benchModel.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const PROMPT = "The river ran past the old mill and"
const OUTPUT_TOKENS = 256
const ROUNDS = 3
const CONTEXT_SIZE = 1024
const GOAL = 4
/**
 * More thread counts to compare, both sides alike, as extra rows: `WEAVELM_BENCH_VERIFY_THREADS=2`.
 * Off by default: on a loaded machine a multi-threaded decode waits for cores at every barrier.
 */
const EXTRA_THREADS = (process.env.WEAVELM_BENCH_VERIFY_THREADS ?? "").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 1)
const SAMPLINGS: Record<string, Sampling> = {
    greedy: {maxTokens: OUTPUT_TOKENS, temperature: "0", topK: 40, topP: "1", seed: 0},
    sampled: {maxTokens: OUTPUT_TOKENS, temperature: "0.8", topK: 40, topP: "0.95", seed: 42}
}

/**
 * What checking a receipt costs against producing it: the worker's generate() of 256 tokens (with
 * its receipt records) against verifyReceipt() of the stored receipt (structural checks, the
 * one-pass re-score, judging every token), on the 125m q8_0 test model, 1 CPU thread each,
 * alternating round by round so both see the same machine load. The verifier's model is loaded
 * once, as a verifier checking many receipts would; its load time is reported apart. Wall time is
 * the goal's measure; process CPU time (every thread, the native sampling reads included) is
 * reported beside it, being less moved by other work on a shared machine.
 */
export const suite: BenchSuite = {
    name: "verification",
    description: "125m q8_0 on 1 CPU thread: verifyReceipt() vs generate() for 256 tokens, receipt size",
    async run({workDir, log}) {
        const file = await benchModel(workDir, log)
        const engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
        try {
            const rows: BenchRow[] = []
            for (const threads of [1, ...EXTRA_THREADS]) {
                const worker = await engine.loadModel(file, {contextSize: CONTEXT_SIZE, threads})
                const probe = receiptOf(SAMPLINGS.greedy!, await worker.generate({prompt: PROMPT, format: "text", sampling: {...SAMPLINGS.greedy!, maxTokens: 1}}))
                const loading = performance.now()
                const verifier = await engine.loadModel(file, {...verifierModelOptions({...probe, outputTokens: Array(OUTPUT_TOKENS).fill(0)}), threads})
                const loadMs = performance.now() - loading
                for (const [name, sampling] of Object.entries(SAMPLINGS))
                    rows.push(...await compare(worker, verifier, threads === 1 ? name : `${name}, ${threads} threads each`, sampling, threads, log))
                if (threads === 1) rows.push({suite: "verification", name: "verifier model load", value: loadMs, unit: "ms", note: "once per model, not per receipt"})
                await verifier.dispose()
                await worker.dispose()
            }
            return rows
        } finally {
            await engine.dispose()
        }
    }
}

/** generate() and verifyReceipt() of its receipt, alternating round by round. */
async function compare(worker: LoadedModel, verifier: LoadedModel, name: string, sampling: Sampling, threads: number, log: (line: string) => void): Promise<BenchRow[]> {
    const generateMs: number[] = []
    const generateCpuMs: number[] = []
    const verifyMs: number[] = []
    const verifyCpuMs: number[] = []
    const scoreMs: number[] = []
    let bytesPerToken = 0
    let last: VerificationReport | null = null
    let inputTokens = 0
    for (let round = 0; round < ROUNDS; round++) {
        log(`${name}: round ${round + 1} of ${ROUNDS}`)
        let cpu = process.cpuUsage()
        const started = performance.now()
        const generation = await worker.generate({prompt: PROMPT, format: "text", sampling})
        generateMs.push(performance.now() - started)
        generateCpuMs.push(cpuMs(process.cpuUsage(cpu)))
        const receipt = receiptOf(sampling, generation)
        inputTokens = receipt.inputTokens.length
        const {bytes, hash} = encodeReceipt(receipt)
        bytesPerToken = bytes.length / receipt.outputTokens.length
        cpu = process.cpuUsage()
        const checking = performance.now()
        last = await verifyReceipt({
            receipt: JSON.parse(bytes.toString("utf8")), receiptBytes: bytes, model: verifier,
            expected: {prompt: PROMPT, format: "text", sampling, receiptHash: hash, output: receipt.output,
                inputTokenCount: receipt.inputTokens.length, outputTokenCount: receipt.outputTokens.length}
        })
        verifyMs.push(performance.now() - checking)
        verifyCpuMs.push(cpuMs(process.cpuUsage(cpu)))
        scoreMs.push(last.timings.scoreMs)
        if (last.verdict !== "valid") throw new Error(`${name}: an honest receipt was judged invalid: ${last.reasons.join("; ")}`)
    }
    const ratio = median(generateMs) / median(verifyMs)
    const cpuRatio = median(generateCpuMs) / median(verifyCpuMs)
    const met = ratio >= GOAL
    log(`${name}: verification ${ratio.toFixed(2)}x cheaper than generation by wall time, ${cpuRatio.toFixed(2)}x by CPU time; ` +
        (threads === 1 ? `goal >= ${GOAL}x ${met ? "met" : "NOT met"}` : "informational, the goal is for 1 thread"))
    const note = `${last!.checked} tokens after a ${inputTokens}-token prompt, ${threads} thread${threads === 1 ? "" : "s"} each: ` +
        `generate ${(median(generateMs) / 1000).toFixed(2)} s, verify ${(median(verifyMs) / 1000).toFixed(2)} s (re-score ${(median(scoreMs) / 1000).toFixed(2)} s), ` +
        `median of ${ROUNDS} alternating rounds`
    const cpuNote = `process CPU time, every thread: generate ${(median(generateCpuMs) / 1000).toFixed(2)} s, verify ${(median(verifyCpuMs) / 1000).toFixed(2)} s`
    if (threads !== 1) return [
        {suite: "verification", name: `${name}: verification cheaper than generation`, value: ratio, unit: "x", note: `informational; ${note}; ${last!.thresholds.profile} thresholds`},
        {suite: "verification", name: `${name}: same, by CPU time`, value: cpuRatio, unit: "x", note: cpuNote}
    ]
    return [
        {suite: "verification", name: `${name}: verification cheaper than generation`, value: ratio, unit: "x", goal: `>= ${GOAL}x`, pass: met, note},
        {suite: "verification", name: `${name}: same, by CPU time`, value: cpuRatio, unit: "x", note: `${cpuNote}; less moved by other work on the machine`},
        {suite: "verification", name: `${name}: re-score share of verification`, value: 100 * median(scoreMs) / median(verifyMs), unit: "%",
            note: "the rest: structural checks (re-tokenizing, detokenizing, hashing) and judging every token"},
        {suite: "verification", name: `${name}: receipt bytes per output token`, value: bytesPerToken, unit: "B",
            note: `JSON receipt with the top 5 per token; ${last!.thresholds.profile} thresholds`}
    ]
}

function cpuMs({user, system}: NodeJS.CpuUsage): number {
    return (user + system) / 1000
}

function receiptOf(sampling: Sampling, generation: Generation): Receipt {
    return {
        version: 1, taskId: "bench", worker: "bench", model: {id: "bench", sha256: "0".repeat(64)},
        prompt: {format: "text", sha256: hashPrompt(PROMPT)}, sampling, engine: generation.engine,
        inputTokens: generation.inputTokens, outputTokens: generation.outputTokens, output: generation.output,
        stopReason: generation.stopReason, tokens: generation.tokens,
        timings: {startedAt: Date.now(), promptMs: generation.timings.promptMs, generationMs: generation.timings.generationMs}, log: []
    }
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
