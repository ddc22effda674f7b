import type {Token} from "node-llama-cpp"
import {describe, expect, it} from "vitest"
import {encodeReceipt, hashPrompt, type Engine, type Receipt, type TokenRecord} from "../../sdk/receipt/index.ts"
import {
    CPU_THRESHOLDS,
    GPU_THRESHOLDS,
    hardwareClassOf,
    thresholdsFor,
    weightClassOf,
    verifierModelOptions,
    verifyReceipt,
    VerifierSetupError,
    type VerifierModel
} from "../../verifier/index.ts"

// verifyReceipt's plumbing with a fake model that agrees with whatever it is asked to re-score:
// the judging itself is exercised against the real engine in corpus.test.ts.

const engine: Engine = {
    name: "node-llama-cpp",
    version: "3.22.1",
    llamaCpp: "b1",
    backend: "cpu",
    gpu: null,
    threads: 1,
    batchSize: 512,
    contextSize: 64
}
const record = (token: number): TokenRecord => ({
    token,
    logprob: -0.1,
    top: [
        [token, -0.1],
        [90, -3],
        [91, -4],
        [92, -5],
        [93, -6]
    ]
})
const receipt: Receipt = {
    version: 1,
    taskId: "t",
    worker: "w",
    model: {id: "m", sha256: "a".repeat(64)},
    prompt: {format: "text", sha256: hashPrompt("hi")},
    sampling: {maxTokens: 3, temperature: "0", topK: 40, topP: "1", seed: 0},
    engine,
    inputTokens: [1, 5],
    outputTokens: [7, 8, 9],
    output: "7 8 9",
    stopReason: "maxTokens",
    tokens: [record(7), record(8), record(9)],
    timings: {startedAt: 0, promptMs: 0, generationMs: 0},
    log: []
}

function fakeModel(changes: Partial<VerifierModel> = {}): VerifierModel {
    return {
        engine,
        contextSize: 64,
        weightClass: "f32",
        vocabularySize: 100,
        score: async ({outputTokens}) =>
            outputTokens.map((token) => ({...record(token), top: [...record(token).top, [94, -7], [95, -8], [96, -9]]})),
        tokenizePrompt: (prompt) => (prompt === "hi" ? [1, 5] : [1, 6]) as Token[],
        detokenize: (tokens) => tokens.join(" "),
        isEogToken: (token) => token === 2,
        ...changes
    }
}

describe("verifyReceipt", () => {
    it("passes a consistent receipt and reports skipped checks as skipped", async () => {
        const report = await verifyReceipt({receipt, model: fakeModel()})
        expect(report).toMatchObject({verdict: "valid", firstBadPosition: null, checked: 3, reasons: []})
        expect(report.thresholds).toEqual(CPU_THRESHOLDS.f32)
        expect(report.structural.filter((check) => check.status === "skipped").map((check) => check.name)).toEqual([
            "receipt.bytes",
            "receipt.hash",
            "task.id",
            "model.id",
            "model.sha256",
            "prompt.format",
            "prompt.sha256",
            "prompt.tokens",
            "sampling",
            "tokens.counts",
            "output.task"
        ])
    })

    it("checks every field the task states", async () => {
        const {bytes, hash} = encodeReceipt(receipt)
        const expected = {
            taskId: "t",
            modelId: "m",
            modelSha256: "a".repeat(64),
            prompt: "hi",
            format: "text" as const,
            sampling: receipt.sampling,
            inputTokenCount: 2,
            outputTokenCount: 3,
            receiptHash: hash,
            output: "7 8 9"
        }
        const report = await verifyReceipt({receipt, receiptBytes: bytes, expected, model: fakeModel()})
        expect(report.structural.every((check) => check.status === "pass")).toBe(true)

        const wrong = await verifyReceipt({
            receipt,
            receiptBytes: bytes,
            model: fakeModel(),
            expected: {...expected, prompt: "other", sampling: {...receipt.sampling, seed: 1}, outputTokenCount: 4, output: "7 8"}
        })
        expect(wrong.verdict).toBe("invalid")
        expect(wrong.structural.filter((check) => check.status === "fail").map((check) => check.name)).toEqual([
            "prompt.sha256",
            "prompt.tokens",
            "sampling",
            "tokens.counts",
            "output.task"
        ])
    })

    it("fails what is not a receipt, and never hands foreign token ids to the model", async () => {
        const report = await verifyReceipt({receipt: {version: 2}, model: fakeModel()})
        expect(report).toMatchObject({verdict: "invalid", checked: 0})
        expect(report.structural[0]).toMatchObject({name: "receipt.schema", status: "fail"})

        const native = () => {
            throw new Error("a native call saw a foreign token")
        }
        const foreign = await verifyReceipt({
            receipt: {...receipt, outputTokens: [7, 800, 9], tokens: [record(7), record(800), record(9)]},
            model: fakeModel({detokenize: native, isEogToken: native, score: native})
        })
        expect(foreign.verdict).toBe("invalid")
        expect(foreign.reasons[0]).toMatch(/^tokens.vocabulary: output token 800/)
    })

    it("catches output cut short or continued past an end-of-generation token", async () => {
        const short = await verifyReceipt({receipt: {...receipt, sampling: {...receipt.sampling, maxTokens: 5}}, model: fakeModel()})
        expect(short.reasons.join()).toMatch(/stop: stopped after 3 tokens with no reason/)
        const past = await verifyReceipt({
            receipt: {...receipt, outputTokens: [7, 2, 9], tokens: [record(7), record(2), record(9)], output: "7 2 9"},
            model: fakeModel()
        })
        expect(past.reasons.join()).toMatch(/continues after an end-of-generation token/)
    })

    it("lets a decode replay decide a CPU receipt the re-score fails, or passes where other precisions start", async () => {
        // Records `delta` nats off the receipt's, by score mode: what kernels other than the worker's would give.
        const drifting = (deltas: {prefill: number; decode: number}) => {
            const modes: string[] = []
            const model = fakeModel({
                score: async ({outputTokens, mode = "prefill"}) => {
                    modes.push(mode)
                    const delta = deltas[mode]
                    return outputTokens.map((token) => ({
                        token,
                        logprob: -0.1 - delta,
                        top: [
                            [token, -0.1 - delta],
                            [90, -3 - delta],
                            [91, -4],
                            [92, -5],
                            [93, -6],
                            [94, -7],
                            [95, -8],
                            [96, -9]
                        ]
                    }))
                }
            })
            return {model, modes}
        }
        const failed = drifting({prefill: 0.05, decode: 0})
        const rescued = await verifyReceipt({receipt, model: failed.model})
        expect(rescued).toMatchObject({verdict: "valid", decidedBy: "replay", rescore: {verdict: "invalid", firstBadPosition: 0}})
        expect(rescued.thresholds.profile).toBe("cpu/f32/decode-replay")
        expect(failed.modes).toEqual(["prefill", "decode"])

        // Within every re-score tolerance, but above where f16 weights served for f32 start; the replay differs in the fifth digit.
        const close = drifting({prefill: 5e-4, decode: 1e-5})
        const caught = await verifyReceipt({receipt, model: close.model})
        expect(caught).toMatchObject({verdict: "invalid", decidedBy: "replay", firstBadPosition: 0, rescore: {verdict: "valid"}})
        expect(caught.rescore!.escalated).toMatch(/above 0.0002 \(cpu\/f32\)/)

        const quiet = drifting({prefill: 1e-5, decode: 1})
        expect(await verifyReceipt({receipt, model: quiet.model})).toMatchObject({
            verdict: "valid",
            decidedBy: "rescore",
            timings: {replayMs: 0}
        })
        expect(quiet.modes).toEqual(["prefill"])
    })

    it("never replays a GPU receipt exactly, replays alone for referees, and not at all when told", async () => {
        const model = (prefill: number, decode: number) =>
            fakeModel({
                score: async ({outputTokens, mode}) =>
                    outputTokens.map((token) => {
                        const delta = mode === "decode" ? decode : prefill
                        return {
                            token,
                            logprob: -0.1 - delta,
                            top: [
                                [token, -0.1 - delta],
                                [90, -3],
                                [91, -4],
                                [92, -5],
                                [93, -6],
                                [94, -7],
                                [95, -8],
                                [96, -9]
                            ]
                        }
                    })
            })
        expect(await verifyReceipt({receipt, model: model(5e-4, 1), hardware: "gpu"})).toMatchObject({
            verdict: "valid",
            decidedBy: "rescore"
        })
        expect(await verifyReceipt({receipt, model: model(5e-4, 1), replay: "never"})).toMatchObject({
            verdict: "valid",
            decidedBy: "rescore"
        })
        const referee = await verifyReceipt({receipt, model: model(1, 0), replay: "always"})
        expect(referee).toMatchObject({verdict: "valid", decidedBy: "replay", timings: {scoreMs: 0}})
        expect(referee.rescore).toBeUndefined()
        // A GPU receipt's replay keeps the cross-kernel tolerances.
        expect((await verifyReceipt({receipt, model: model(1, 0.01), replay: "always", hardware: "gpu"})).thresholds).toBe(
            GPU_THRESHOLDS.f32
        )
    })

    it("refuses to judge with a context that cannot hold the receipt", async () => {
        await expect(verifyReceipt({receipt, model: fakeModel({contextSize: 4})})).rejects.toBeInstanceOf(VerifierSetupError)
        expect(verifierModelOptions({...receipt, engine: {...engine, contextSize: 4}})).toEqual({
            contextSize: 5,
            batchSize: 5,
            sequences: 1
        })
    })
})

describe("thresholdsFor", () => {
    it("follows the loaded weights and the registry's hardware, never the receipt", async () => {
        expect(thresholdsFor("q8_0")).toBe(CPU_THRESHOLDS.q8_0)
        expect(thresholdsFor("f16", "gpu")).toBe(GPU_THRESHOLDS.f16)
        expect([0, 1, 32, 7, 2, 14, undefined].map(weightClassOf)).toEqual(["f32", "f16", "f16", "q8_0", "q4", "q4", "q4"])
        expect(["cpu", "", undefined, "CPU x86", "cuda NVIDIA H100", "vulkan"].map(hardwareClassOf)).toEqual([
            "cpu",
            "cpu",
            "cpu",
            "cpu",
            "gpu",
            "gpu"
        ])
        // A receipt that says it ran on a GPU with many threads is judged as the registry and the model file say.
        const claimed = {...receipt, engine: {...engine, backend: "cuda", threads: 2}}
        expect((await verifyReceipt({receipt: claimed, model: fakeModel()})).thresholds).toBe(CPU_THRESHOLDS.f32)
        expect((await verifyReceipt({receipt: claimed, model: fakeModel({weightClass: "q4"}), hardware: "gpu"})).thresholds).toBe(
            GPU_THRESHOLDS.q4
        )
    })

    it("keeps every GPU bound at or above the CPU's, and each mean bound below the precision step it must catch", () => {
        for (const weights of ["f32", "f16", "q8_0", "q4"] as const)
            for (const key of ["tokenLogprob", "topLogprob", "meanTopLogprob", "greedyMargin"] as const)
                expect(GPU_THRESHOLDS[weights][key]).toBeGreaterThanOrEqual(CPU_THRESHOLDS[weights][key])
        // Measured on the trained fixture (docs/verification.md): f16 for f32 1.85e-3, q8_0 for f16 0.035, q4 for q8_0 0.39.
        expect(CPU_THRESHOLDS.f32.meanTopLogprob).toBeLessThan(1.85e-3)
        expect(CPU_THRESHOLDS.f16.meanTopLogprob).toBeLessThan(0.035)
        expect(GPU_THRESHOLDS.f16.meanTopLogprob).toBeLessThan(0.035)
        expect(GPU_THRESHOLDS.q8_0.meanTopLogprob).toBeLessThan(0.39)
        // Where a CPU re-score hands over to the replay: below every step either way, finer weights included
        // (f32 served for f16 1.45e-3, f16 for q8_0 0.032, q8_0 for q4 0.42).
        expect(CPU_THRESHOLDS.f32.exactReplayAbove).toBeLessThan(1.44e-3 / 3)
        expect(CPU_THRESHOLDS.f16.exactReplayAbove).toBeLessThan(1.45e-3 / 2)
        expect(CPU_THRESHOLDS.q8_0.exactReplayAbove).toBeLessThan(0.032 / 3)
        expect(CPU_THRESHOLDS.q4.exactReplayAbove).toBeLessThan(0.41 / 3)
        for (const weights of ["f32", "f16", "q8_0", "q4"] as const) expect(GPU_THRESHOLDS[weights].exactReplayAbove).toBeNull()
    })
})
