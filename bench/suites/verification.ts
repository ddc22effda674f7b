import {encodeReceipt, hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import {verifierModelOptions, verifyReceipt, type VerificationReport} from "../../verifier/index.ts"
import {InferenceEngine, type Generation} from "../../worker/engine/index.ts"
import {benchModel} from "../benchModel.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const PROMPT = "The river ran past the old mill and"
const OUTPUT_TOKENS = 256
const ROUNDS = 3
const CONTEXT_SIZE = 1024
const SAMPLINGS: Record<string, Sampling> = {
    greedy: {maxTokens: OUTPUT_TOKENS, temperature: "0", topK: 40, topP: "1", seed: 0},
    sampled: {maxTokens: OUTPUT_TOKENS, temperature: "0.8", topK: 40, topP: "0.95", seed: 42}
}

/**
 * What checking a receipt costs against producing it: the worker's generate() of 256 tokens (with
 * its receipt records) against verifyReceipt() of the stored receipt (structural checks, the
 * one-pass re-score, judging every token), on the 125m q8_0 test model, 1 CPU thread each,
 * alternating round by round so both see the same machine load. The verifier's model is loaded
 * once, as a verifier checking many receipts would; its load time is reported apart.
 */
export const suite: BenchSuite = {
    name: "verification",
    description: "125m q8_0 on 1 CPU thread: verifyReceipt() vs generate() for 256 tokens, receipt size",
    async run({workDir, log}) {
        const file = await benchModel(workDir, log)
        const engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
        try {
            const worker = await engine.loadModel(file, {contextSize: CONTEXT_SIZE})
            const probe = receiptOf(SAMPLINGS.greedy!, await worker.generate({prompt: PROMPT, format: "text", sampling: {...SAMPLINGS.greedy!, maxTokens: 1}}))
            const loading = performance.now()
            const verifier = await engine.loadModel(file, verifierModelOptions({...probe, outputTokens: Array(OUTPUT_TOKENS).fill(0)}))
            const loadMs = performance.now() - loading

            const rows: BenchRow[] = []
            for (const [name, sampling] of Object.entries(SAMPLINGS)) {
                const generateMs: number[] = []
                const verifyMs: number[] = []
                const scoreMs: number[] = []
                let bytesPerToken = 0
                let last: VerificationReport | null = null
                let inputTokens = 0
                for (let round = 0; round < ROUNDS; round++) {
                    log(`${name}: round ${round + 1} of ${ROUNDS}`)
                    const started = performance.now()
                    const generation = await worker.generate({prompt: PROMPT, format: "text", sampling})
                    generateMs.push(performance.now() - started)
                    const receipt = receiptOf(sampling, generation)
                    inputTokens = receipt.inputTokens.length
                    const {bytes, hash} = encodeReceipt(receipt)
                    bytesPerToken = bytes.length / receipt.outputTokens.length
                    const checking = performance.now()
                    last = await verifyReceipt({
                        receipt: JSON.parse(bytes.toString("utf8")), receiptBytes: bytes, model: verifier,
                        expected: {prompt: PROMPT, format: "text", sampling, receiptHash: hash, output: receipt.output,
                            inputTokenCount: receipt.inputTokens.length, outputTokenCount: receipt.outputTokens.length}
                    })
                    verifyMs.push(performance.now() - checking)
                    scoreMs.push(last.timings.scoreMs)
                    if (last.verdict !== "valid") throw new Error(`${name}: an honest receipt was judged invalid: ${last.reasons.join("; ")}`)
                }
                const ratio = median(generateMs) / median(verifyMs)
                const tokens = last!.checked
                const note = `${tokens} tokens after a ${inputTokens}-token prompt: generate ${(median(generateMs) / 1000).toFixed(2)} s, ` +
                    `verify ${(median(verifyMs) / 1000).toFixed(2)} s (re-score ${(median(scoreMs) / 1000).toFixed(2)} s), median of ${ROUNDS} alternating rounds`
                rows.push(
                    {suite: "verification", name: `${name}: verification cheaper than generation`, value: ratio, unit: "x", goal: ">= 4x", pass: ratio >= 4, note},
                    {suite: "verification", name: `${name}: re-score share of verification`, value: 100 * median(scoreMs) / median(verifyMs), unit: "%",
                        note: "the rest: structural checks (re-tokenizing, detokenizing, hashing) and judging every token"},
                    {suite: "verification", name: `${name}: receipt bytes per output token`, value: bytesPerToken, unit: "B",
                        note: `JSON receipt with the top 5 per token; ${last!.thresholds.profile} thresholds`}
                )
            }
            rows.push({suite: "verification", name: "verifier model load", value: loadMs, unit: "ms", note: "once per model, not per receipt"})
            return rows
        } finally {
            await engine.dispose()
        }
    }
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
