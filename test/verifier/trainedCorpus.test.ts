import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import type {Token} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import type {Sampling} from "../../sdk/receipt/index.ts"
import {verifyReceipt, type VerificationReport} from "../../verifier/index.ts"
import {InferenceEngine, type LoadedModel} from "../../worker/engine/index.ts"
import {
    caseFor, consistentWork, GREEDY, HIGHER_PRECISION, ModelPool, precisionKind, receiptFor, sampledSettings, TRAINED_TYPES, writeTrainedModels,
    type CorpusCase, type ModelFile, type Task, type TrainedType
} from "./corpus.ts"

/**
 * The verifier on trained weights (test/fixtures/models/trained-stories.gguf and its conversions), whose
 * confident distributions leave a precision swap far less room than random weights do: honest receipts
 * of every precision from workers on 1 and 2 threads and three batch sizes, and the same weights served
 * at every other precision, 64 to 96 output tokens each. Counts are printed at the end.
 */

const STORY_PROMPTS = ["Once upon a time", "One day, Mia went to the park", "Sam the cat", "The little dog found a shiny ball", "Tom and Lily"]

let dir: string
let engine: InferenceEngine
let pool: ModelPool
let trained: Record<TrainedType, ModelFile>
const honest: CorpusCase[] = []
const dishonest: CorpusCase[] = []
const results = new Map<CorpusCase, VerificationReport>()
let taskCounter = 0

/** Flash attention is off (the engine's default), so the thread count changes no number; a third of the workers run 2. */
const worker = (type: TrainedType, i: number) =>
    pool.get(trained[type], {contextSize: 256, threads: i % 3 === 2 ? 2 : 1, batchSize: [512, 32, 8][Math.floor(i / 3) % 3]!})
const sampling = (i: number): Sampling => ({...(i % 2 === 0 ? GREEDY : sampledSettings(700 + i)[Math.floor(i / 2) % 5]!), maxTokens: 64 + (i % 3) * 16})
const task = (type: TrainedType, i: number): Task => ({
    taskId: `trained-${String(++taskCounter).padStart(35, "0")}`, prompt: STORY_PROMPTS[i % STORY_PROMPTS.length]!, format: "text",
    sampling: sampling(i), model: trained[type]
})
const generate = async (model: LoadedModel, t: Task) => await model.generate({prompt: t.prompt, format: t.format, sampling: t.sampling})

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-trained-corpus-"))
    trained = await writeTrainedModels(dir)
    engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
    pool = new ModelPool(engine)

    for (const type of TRAINED_TYPES) {
        for (let i = 0; i < 8; i++) {
            const t = task(type, i)
            const work = await generate(await worker(type, i), t)
            honest.push(caseFor("honest", `${type} ${t.sampling.temperature === "0" ? "greedy" : "sampled"}, ${work.engine.threads} thread(s), batch ${work.engine.batchSize}`, t, receiptFor(t, work)))
        }
    }
    for (const item of honest.filter((_, j) => j % 4 === 0))
        honest.push({...item, description: `${item.description}, verifier 2 threads`, verifierOptions: {threads: 2}})

    const steps: [TrainedType, TrainedType][] = [["f16", "f32"], ["q8_0", "f16"], ["q8_0", "f32"], ["q4_0", "q8_0"], ["q4_K", "q8_0"],
        ["q4_K", "q4_0"], ["q4_0", "q4_K"], ["q8_0", "q4_0"], ["f32", "f16"], ["f16", "q8_0"]]
    for (const [served, claimed] of steps) {
        for (let i = 0; i < 3; i++) {
            const t = task(claimed, i + 1)
            dishonest.push(caseFor(precisionKind(served, claimed), `${served} served, ${claimed} claimed`, t, receiptFor(t, await generate(await worker(served, i), t))))
        }
    }
    // One greedy token swapped for a clearly worse one, records re-scored by the cheater for exactly what it claims.
    for (let i = 0; i < 8; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = {...task(type, i), sampling: {...GREEDY, maxTokens: 64}}
        const model = await worker(type, i)
        const work = await generate(model, t)
        const position = work.tokens.findIndex((record, p) => p >= 16 && record.top.some(([token, logprob]) => token !== record.token && record.top[0]![1] - logprob > 1))
        const replacement = work.tokens[position]!.top.find(([token, logprob]) => token !== work.tokens[position]!.token && work.tokens[position]!.top[0]![1] - logprob > 1)![0]
        const tampered = [...work.outputTokens]
        tampered[position] = replacement as Token
        dishonest.push(caseFor("swapped token", `${type}, position ${position}`, t, receiptFor(t, await consistentWork(model, work, tampered))))
    }

    for (const item of [...honest, ...dishonest]) {
        const model = await pool.verifierFor(item)
        results.set(item, await verifyReceipt({receipt: JSON.parse(item.bytes.toString("utf8")), receiptBytes: item.bytes, expected: item.expected, model}))
    }
}, 1_800_000)

afterAll(async () => {
    await engine?.dispose()
    if (dir != null) await rm(dir, {recursive: true, force: true})
})

describe("verifier on trained weights", () => {
    it("passes every honest receipt", () => {
        const flagged = honest.filter((item) => results.get(item)!.verdict !== "valid")
        for (const item of flagged) console.log(`FALSE POSITIVE ${item.description}: ${results.get(item)!.reasons.slice(0, 3).join(" | ")}`)
        expect(flagged.map((item) => item.description)).toEqual([])
    })

    it("flags every receipt of coarser weights than claimed, and every swapped token at its position", () => {
        const required = dishonest.filter((item) => item.kind !== HIGHER_PRECISION)
        const missed = required.filter((item) => results.get(item)!.verdict !== "invalid")
        for (const item of missed) console.log(`MISSED ${item.kind}: ${item.description} ${JSON.stringify(results.get(item)!.aggregate)}`)
        expect(missed.map((item) => `${item.kind}: ${item.description}`)).toEqual([])
        for (const item of dishonest.filter((c) => c.kind === "swapped token"))
            expect(results.get(item)!.firstBadPosition, item.description).toBe(Number(/position (\d+)/.exec(item.description)![1]))
    })

    it("prints the counts", () => {
        const lines = [`trained: honest ${honest.filter((item) => results.get(item)!.verdict === "valid").length}/${honest.length} passed`]
        const byStep = new Map<string, {flagged: number, total: number, means: number[], profile: string}>()
        for (const item of dishonest) {
            const report = results.get(item)!
            const entry = byStep.get(`${item.kind}: ${item.description}`) ?? {flagged: 0, total: 0, means: [], profile: report.thresholds.profile}
            entry.total++
            if (report.verdict === "invalid") entry.flagged++
            entry.means.push(report.aggregate.meanTopDelta)
            byStep.set(`${item.kind}: ${item.description}`, entry)
        }
        for (const [step, entry] of byStep)
            lines.push(`  ${step}: ${entry.flagged}/${entry.total} flagged, mean top |Δ| ${Math.min(...entry.means).toExponential(2)}..${Math.max(...entry.means).toExponential(2)} (${entry.profile})`)
        for (const type of TRAINED_TYPES) {
            const reports = honest.filter((item) => item.model.type === type).map((item) => results.get(item)!)
            lines.push(`  honest ${type} (${reports.length}): worst receipt mean top |Δ| ${Math.max(0, ...reports.map((r) => r.aggregate.meanTopDelta)).toExponential(2)}, ` +
                `worst token |Δ| ${Math.max(0, ...reports.map((r) => r.aggregate.maxTokenDelta)).toExponential(2)} (${reports[0]!.thresholds.profile})`)
        }
        console.log(lines.join("\n"))
        expect(honest.length).toBeGreaterThanOrEqual(50)
    })
})
