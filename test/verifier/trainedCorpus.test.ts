import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import type {Token} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {hashPrompt, type Sampling} from "../../sdk/receipt/index.ts"
import {verifyReceipt, type VerificationReport} from "../../verifier/index.ts"
import {InferenceEngine, type Generation, type LoadedModel, type LoadedModelOptions} from "../../worker/engine/index.ts"
import {
    caseFor,
    Choices,
    consistentWork,
    GREEDY,
    ModelPool,
    precisionKind,
    receiptFor,
    sampledSettings,
    TRAINED_TYPES,
    writeTrainedModels,
    type CorpusCase,
    type ModelFile,
    type Task,
    type TrainedType,
    type Work
} from "./corpus.ts"

/**
 * The verifier on trained weights (test/fixtures/models/trained-stories.gguf and its conversions), whose
 * confident distributions leave a precision swap far less room than random weights do. Honest receipts
 * of every precision from workers with 1 and 2 threads, batch sizes 512, 32 and 8, contexts of 256 to
 * 1024, alone or two generations sharing a context's batches, greedy and five sampled settings, 64 to
 * 128 output tokens; dishonest ones of every kind a worker could try on them. Counts are printed at the end.
 */

const HONEST_PER_TYPE = 200

/** Flash attention is off (the engine's default), so the thread count changes no number. */
const WORKER_SETTINGS: readonly LoadedModelOptions[] = [
    {contextSize: 256, threads: 1, batchSize: 512},
    {contextSize: 256, threads: 2, batchSize: 512},
    {contextSize: 512, threads: 1, batchSize: 32},
    {contextSize: 1024, threads: 2, batchSize: 8},
    // Two tasks at once, their tokens decoded in shared batches.
    {contextSize: 512, threads: 1, batchSize: 8, sequences: 2},
    {contextSize: 256, threads: 2, batchSize: 32, sequences: 2}
]

const STORIES = [
    "Once upon a time",
    "One day, Mia went to the park",
    "Sam the cat",
    "The little dog found a shiny ball",
    "Tom and Lily",
    "There was a big tree",
    "Ben wanted to play",
    "The sun was hot and",
    "A girl named Sue",
    "Mom made a cake"
]
/** Prompts past 32 and 64 tokens, so batch sizes 8 and 32 split them. */
const LONG_STORIES = [0, 3, 6].map((i) => Array.from({length: 8}, (_, j) => STORIES[(i + j) % STORIES.length]).join(". "))
const PROMPTS = [...STORIES, ...LONG_STORIES]

let dir: string
let engine: InferenceEngine
let pool: ModelPool
let trained: Record<TrainedType, ModelFile>
const honest: CorpusCase[] = []
const dishonest: CorpusCase[] = []
const results = new Map<CorpusCase, VerificationReport>()
let taskCounter = 0

const worker = (type: TrainedType, setting: number) => pool.get(trained[type], WORKER_SETTINGS[setting % WORKER_SETTINGS.length]!)
const sampling = (i: number): Sampling => {
    const base = i % 6 === 0 ? GREEDY : sampledSettings(700 + i)[i % 5]!
    return {...base, maxTokens: 64 + (i % 5) * 16}
}
const task = (type: TrainedType, i: number, overrides: Partial<Task> = {}): Task => ({
    taskId: `trained-${String(++taskCounter).padStart(35, "0")}`,
    prompt: PROMPTS[i % PROMPTS.length]!,
    format: "text",
    sampling: sampling(i),
    model: trained[type],
    ...overrides
})
const generate = async (model: LoadedModel, t: Task, changes: {prompt?: string; sampling?: Sampling} = {}) =>
    await model.generate({prompt: changes.prompt ?? t.prompt, format: t.format, sampling: changes.sampling ?? t.sampling})
const label = (t: Task, work: Generation) =>
    `${t.sampling.temperature === "0" ? "greedy" : `T ${t.sampling.temperature} k ${t.sampling.topK} p ${t.sampling.topP}`}, ` +
    `${work.engine.threads} thread(s), batch ${work.engine.batchSize}, context ${work.engine.contextSize}`

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-trained-corpus-"))
    trained = await writeTrainedModels(dir)
    engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
    pool = new ModelPool(engine)
    const choose = new Choices(20_261_205)

    // Honest: each setting in turn; a two-sequence setting runs its tasks in pairs, side by side.
    for (const type of TRAINED_TYPES) {
        for (let i = 0; i < HONEST_PER_TYPE; ) {
            const setting = Math.floor(i / 2)
            const model = await worker(type, setting)
            const pair = (WORKER_SETTINGS[setting % WORKER_SETTINGS.length]!.sequences ?? 1) === 2
            const tasks = [task(type, i), ...(pair ? [task(type, i + 1)] : [])]
            const works = await Promise.all(tasks.map((t) => generate(model, t)))
            for (const [j, t] of tasks.entries())
                honest.push(
                    caseFor("honest", `${type} ${label(t, works[j]!)}${pair ? ", beside another task" : ""}`, t, receiptFor(t, works[j]!))
                )
            i += tasks.length
        }
    }
    // Some checked by a verifier on 2 threads: with flash attention off, the same numbers.
    for (const item of honest.filter((_, j) => j % 5 === 0)) {
        if (item.receipt.engine.threads === 2) continue
        honest.push({...item, description: `${item.description}, verifier 2 threads`, verifierOptions: {threads: 2}})
    }

    const add = (
        kind: string,
        description: string,
        t: Task,
        work: Work,
        claims: Parameters<typeof receiptFor>[2] = {},
        overrides: Parameters<typeof caseFor>[4] = {}
    ) => dishonest.push(caseFor(kind, description, t, receiptFor(t, work, claims), overrides))

    // Every precision served for every other.
    for (const served of TRAINED_TYPES) {
        for (const claimed of TRAINED_TYPES) {
            if (served === claimed) continue
            for (let i = 0; i < 5; i++) {
                const t = task(claimed, i + 3)
                add(precisionKind(served, claimed), `${served} served, ${claimed} claimed`, t, await generate(await worker(served, i), t))
            }
        }
    }

    // One token swapped for another candidate (greedy: a clearly worse one), records re-scored by the cheater for what it claims.
    for (let i = 0; i < 50; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = task(type, i, i % 2 === 0 ? {sampling: {...GREEDY, maxTokens: 64 + (i % 4) * 16}} : {})
        const model = await worker(type, i)
        const work = await generate(model, t)
        const greedy = t.sampling.temperature === "0"
        const start = 8 + choose.int(work.tokens.length - 16)
        const position = [...work.tokens.keys()]
            .map((p) => (start + p) % work.tokens.length)
            .find((p) =>
                work.tokens[p]!.top.some(
                    ([token, logprob]) => token !== work.tokens[p]!.token && (!greedy || work.tokens[p]!.top[0]![1] - logprob > 1)
                )
            )!
        const record = work.tokens[position]!
        const replacement = record.top.find(
            ([token, logprob]) => token !== record.token && (!greedy || record.top[0]![1] - logprob > 1)
        )![0]
        const tampered = [...work.outputTokens]
        tampered[position] = replacement as Token
        add(
            "swapped token",
            `${type} ${greedy ? "greedy" : "sampled"}, position ${position}`,
            t,
            await consistentWork(model, work, tampered)
        )
    }

    // The tokens as generated, the records edited past kernel noise: a worker inflating its confidence.
    // (Edits within the noise, such as rounding to 3 decimals, change no token and pass: docs/verification.md.)
    for (let i = 0; i < 30; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = task(type, i + 11)
        const work = await generate(await worker(type, i), t)
        const edit =
            i % 3 === 0
                ? (logprob: number) => Math.min(0, logprob + 0.1)
                : i % 3 === 1
                  ? (logprob: number) => Math.round(logprob * 10) / 10
                  : (logprob: number) => logprob * 0.95
        const tokens = work.tokens.map((record) => ({
            ...record,
            logprob: edit(record.logprob),
            top: record.top.map(([token, logprob]) => [token, edit(logprob)] as [number, number])
        }))
        add("edited records", `${type}, ${["raised by 0.1 nats", "rounded to 1 decimal", "scaled by 0.95"][i % 3]}`, t, {...work, tokens})
    }

    // The prompt: another one run under the task's prompt hash, or part of it.
    for (let i = 0; i < 20; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = task(type, i + 5)
        const prompt =
            i % 2 === 0
                ? `${t.prompt} and the dog`
                : t.prompt
                      .split(" ")
                      .slice(0, Math.max(1, Math.floor(t.prompt.split(" ").length / 2)))
                      .join(" ")
        add(
            i % 2 === 0 ? "altered prompt" : "truncated prompt",
            `${type}, ran "${prompt.slice(0, 40)}"`,
            t,
            await generate(await worker(type, i), t, {prompt}),
            i % 4 === 1 ? {promptSha256: hashPrompt(prompt)} : {}
        )
    }

    // Other sampling than the task's.
    const samplingChanges: [string, (s: Sampling) => Sampling][] = [
        ["another seed", (s) => ({...s, seed: s.seed + 1000})],
        ["sampled for a greedy task", (s) => ({...s, temperature: "0.8", topK: 40, topP: "0.95"})],
        ["greedy for a sampled task", (s) => ({...s, temperature: "0"})],
        ["another temperature", (s) => ({...s, temperature: s.temperature === "0" ? "1" : Number(s.temperature) > 1 ? "0.5" : "1.6"})]
    ]
    for (let i = 0; i < 24; i++) {
        const [description, change] = samplingChanges[i % samplingChanges.length]!
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const base = sampling(i + 1)
        const t = task(type, i, {sampling: description === "sampled for a greedy task" ? {...GREEDY, maxTokens: base.maxTokens} : base})
        add("other sampling", `${type}, ${description}`, t, await generate(await worker(type, i), t, {sampling: change(t.sampling)}))
    }

    // Output cut short with a stop reason that does not hold, and receipts that do not hash to the committed Receipt-Hash.
    for (let i = 0; i < 10; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = task(type, i + 2)
        const work = await generate(await worker(type, i), t, {sampling: {...t.sampling, maxTokens: t.sampling.maxTokens - 20}})
        add("stopped early", `${type}, ${work.outputTokens.length} of ${t.sampling.maxTokens} tokens`, t, {
            ...work,
            stopReason: "maxTokens"
        })
    }
    for (let i = 0; i < 10; i++) {
        const type = TRAINED_TYPES[i % TRAINED_TYPES.length]!
        const t = task(type, i + 7)
        const work = await generate(await worker(type, i), t)
        const other = receiptFor(t, {...work, output: `${work.output} `})
        add(
            "receipt hash",
            `${type}, committed to ${i % 2 === 0 ? "other bytes" : "a made-up hash"}`,
            t,
            work,
            {},
            {receiptHash: i % 2 === 0 ? caseFor("", "", t, other).expected.receiptHash : "f".repeat(64)}
        )
    }

    for (const item of [...honest, ...dishonest]) {
        const model = await pool.verifierFor(item)
        results.set(
            item,
            await verifyReceipt({
                receipt: JSON.parse(item.bytes.toString("utf8")),
                receiptBytes: item.bytes,
                expected: item.expected,
                model
            })
        )
    }
}, 1_800_000)

afterAll(async () => {
    await engine?.dispose()
    if (dir != null) await rm(dir, {recursive: true, force: true})
})

describe("verifier on trained weights", () => {
    it("holds at least 1000 honest and 200 dishonest receipts of 64 output tokens or more", () => {
        expect(honest.length).toBeGreaterThanOrEqual(1000)
        expect(dishonest.length).toBeGreaterThanOrEqual(200)
        const short = [...honest, ...dishonest].filter((item) => item.receipt.outputTokens.length < 64 && item.kind !== "stopped early")
        expect(short.map((item) => `${item.kind}: ${item.description} (${item.receipt.outputTokens.length} tokens)`)).toEqual([])
    })

    it("passes every honest receipt", () => {
        const flagged = honest.filter((item) => results.get(item)!.verdict !== "valid")
        for (const item of flagged) console.log(`FALSE POSITIVE ${item.description}: ${results.get(item)!.reasons.slice(0, 3).join(" | ")}`)
        expect(flagged.map((item) => item.description)).toEqual([])
    })

    it("flags every dishonest receipt, and every swapped token at its position", () => {
        const missed = dishonest.filter((item) => results.get(item)!.verdict !== "invalid")
        for (const item of missed) console.log(`MISSED ${item.kind}: ${item.description} ${JSON.stringify(results.get(item)!.aggregate)}`)
        expect(missed.map((item) => `${item.kind}: ${item.description}`)).toEqual([])
        for (const item of dishonest.filter((c) => c.kind === "swapped token"))
            expect(results.get(item)!.firstBadPosition, item.description).toBe(Number(/position (\d+)/.exec(item.description)![1]))
    })

    it("prints the counts", () => {
        const valid = honest.filter((item) => results.get(item)!.verdict === "valid").length
        const replayed = honest.filter((item) => results.get(item)!.decidedBy === "replay").length
        const flagged = dishonest.filter((item) => results.get(item)!.verdict === "invalid").length
        const lines = [
            `trained: honest ${valid}/${honest.length} passed (${replayed} decided by a decode replay), dishonest ${flagged}/${dishonest.length} flagged`
        ]
        const byKind = new Map<string, {flagged: number; total: number; means: number[]; replayed: number}>()
        for (const item of dishonest) {
            const report = results.get(item)!
            const key =
                item.kind === "lower precision" || item.kind === "higher precision" ? `${item.kind}: ${item.description}` : item.kind
            const entry = byKind.get(key) ?? {flagged: 0, total: 0, means: [], replayed: 0}
            entry.total++
            if (report.verdict === "invalid") entry.flagged++
            if (report.decidedBy === "replay") entry.replayed++
            entry.means.push(report.rescore?.meanTopDelta ?? report.aggregate.meanTopDelta)
            byKind.set(key, entry)
        }
        for (const [kind, entry] of byKind)
            lines.push(
                `  ${kind}: ${entry.flagged}/${entry.total} flagged (${entry.replayed} by a decode replay), ` +
                    `re-score mean top |Δ| ${Math.min(...entry.means).toExponential(2)}..${Math.max(...entry.means).toExponential(2)}`
            )
        for (const type of TRAINED_TYPES) {
            const reports = honest.filter((item) => item.model.type === type).map((item) => results.get(item)!)
            lines.push(
                `  honest ${type} (${reports.length}, ${reports.filter((r) => r.decidedBy === "replay").length} replayed): worst re-score mean top |Δ| ` +
                    `${Math.max(0, ...reports.map((r) => r.rescore?.meanTopDelta ?? r.aggregate.meanTopDelta)).toExponential(2)}`
            )
        }
        console.log(lines.join("\n"))
        expect(valid).toBe(honest.length)
        expect(flagged).toBe(dishonest.length)
    })
})
