import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import type {Token} from "node-llama-cpp"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {PRESETS} from "../../model-publisher/index.ts"
import {encodeReceipt, hashPrompt, type Sampling} from "../../sdk/receipt/index.ts"
import {GPU_THRESHOLDS, verifyReceipt, type VerificationReport} from "../../verifier/index.ts"
import {InferenceEngine, type LoadedModel, type LoadedModelOptions} from "../../worker/engine/index.ts"
import {
    caseFor,
    chatPrompts,
    Choices,
    consistentWork,
    GREEDY,
    ModelPool,
    receiptFor,
    sampledSettings,
    textPrompts,
    writeModels,
    precisionKind,
    type CorpusCase,
    type ModelFile,
    type ModelName,
    type Task,
    type Work
} from "./corpus.ts"

/**
 * The verifier against a generated corpus: honest receipts from the real engine under many
 * settings must all pass; dishonest ones, each made by tampering with a real generation and kept
 * internally consistent, must all be flagged. Counts per kind are printed at the end.
 */

interface WorkerConfig {
    model: ModelName
    options: LoadedModelOptions
}

// The settings workers generate with: thread counts, batch sizes, context sizes and precisions.
const WORKERS = {
    A: {model: "tiny", options: {contextSize: 512, threads: 1}},
    B: {model: "tiny", options: {contextSize: 256, threads: 2, batchSize: 32}},
    C: {model: "tinyQ8", options: {contextSize: 512, threads: 1, batchSize: 16}},
    D: {model: "tinyF16", options: {contextSize: 384, threads: 1, batchSize: 64}},
    E: {model: "tinyQ8", options: {contextSize: 512, threads: 1}},
    F: {model: "small", options: {contextSize: 512, threads: 1}},
    G: {model: "smallQ8", options: {contextSize: 512, threads: 1}},
    O: {model: "tinyOther", options: {contextSize: 512, threads: 1}}
} as const satisfies Record<string, WorkerConfig>
type WorkerName = keyof typeof WORKERS

let dir: string
let engine: InferenceEngine
let pool: ModelPool
let models: Record<ModelName, ModelFile>
const honest: CorpusCase[] = []
const dishonest: CorpusCase[] = []
const results = new Map<CorpusCase, VerificationReport>()
/** The dishonest cases again under the GPU profile of their model's weights (a worker the registry records on a GPU): what they still catch. */
const loose = new Map<CorpusCase, VerificationReport>()
let taskCounter = 0

const worker = (name: WorkerName) => pool.get(models[WORKERS[name].model], WORKERS[name].options)

const newTask = (model: ModelFile, prompt: string, format: "text" | "chat", sampling: Sampling): Task => ({
    taskId: `task-${String(++taskCounter).padStart(39, "0")}`,
    prompt,
    format,
    sampling,
    model
})

async function run(name: WorkerName, task: Task, fed: {prompt?: string; sampling?: Sampling} = {}): Promise<Work> {
    return await (await worker(name)).generate({
        prompt: fed.prompt ?? task.prompt,
        format: task.format,
        sampling: fed.sampling ?? task.sampling
    })
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((token, i) => token === b[i])

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-verifier-corpus-"))
    models = await writeModels(dir)
    engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
    pool = new ModelPool(engine)
    const choose = new Choices(20_261_122)
    const texts = textPrompts()
    const chats = chatPrompts()
    const samplingFor = (i: number): Sampling =>
        i % 2 === 0 ? {...GREEDY, maxTokens: 24 + (i % 3) * 8} : sampledSettings(100 + i)[Math.floor(i / 2) % 5]!

    // Honest: every worker setting, text and chat prompts, greedy and sampled.
    const plan: [WorkerName, number][] = [
        ["A", 24],
        ["B", 8],
        ["C", 22],
        ["D", 16],
        ["E", 14],
        ["F", 16]
    ]
    for (const [name, count] of plan) {
        for (let i = 0; i < count; i++) {
            const chat = i % 6 === 5
            const task = newTask(
                models[WORKERS[name].model],
                chat ? chats[i % chats.length]! : texts[(i * 7 + name.charCodeAt(0)) % texts.length]!,
                chat ? "chat" : "text",
                samplingFor(i)
            )
            honest.push(
                caseFor(
                    "honest",
                    `${name} ${task.format} ${task.sampling.temperature === "0" ? "greedy" : "sampled"}`,
                    task,
                    receiptFor(task, await run(name, task))
                )
            )
        }
    }
    // The same honest receipts checked by a verifier with other thread counts: the same kernels, the same numbers.
    const others = honest.filter((item, j) => item.model.preset === "tiny" && j % 4 === 0).map((item) => [item, {threads: 2}] as const)
    for (const [item, verifierOptions] of others)
        honest.push({...item, description: `${item.description}, verifier ${JSON.stringify(verifierOptions)}`, verifierOptions})

    const add = (
        kind: string,
        description: string,
        task: Task,
        work: Work,
        claims: Parameters<typeof receiptFor>[2] = {},
        overrides: Parameters<typeof caseFor>[4] = {}
    ) => dishonest.push(caseFor(kind, description, task, receiptFor(task, work, claims), overrides))
    const textTask = (model: ModelFile, i: number, sampling = samplingFor(i)) =>
        newTask(model, texts[(i * 5 + 3) % texts.length]!, "text", sampling)

    // A different model: other weights of the same shape, or another size.
    for (let i = 0; i < 10; i++) {
        const task = textTask(models.tiny, i)
        add("other model (seed)", "tiny seed 2 claimed as seed 1", task, await run("O", task))
    }
    for (let i = 0; i < 8; i++) {
        const task = textTask(i < 5 ? models.tiny : models.small, i)
        add("other model (size)", i < 5 ? "small claimed as tiny" : "tiny claimed as small", task, await run(i < 5 ? "F" : "A", task))
    }

    // The same weights at another precision.
    const precision: [ModelName, WorkerName][] = [
        ["tiny", "C"],
        ["tiny", "C"],
        ["tiny", "E"],
        ["tiny", "C"],
        ["tiny", "E"],
        ["tinyF16", "C"],
        ["tinyF16", "E"],
        ["tinyF16", "C"],
        ["tinyQ8", "A"],
        ["tinyQ8", "A"],
        ["tinyQ8", "B"],
        ["tinyQ8", "A"],
        ["tinyQ8", "D"],
        ["tinyQ8", "D"],
        ["small", "G"],
        ["smallQ8", "F"]
    ]
    for (const [i, [claimed, ran]] of precision.entries()) {
        const task = textTask(models[claimed], i)
        add(
            precisionKind(models[WORKERS[ran].model].type, models[claimed].type),
            `${WORKERS[ran].model} claimed as ${claimed}`,
            task,
            await run(ran, task)
        )
    }

    // Edited output: one token swapped, records re-scored by the cheater so they are exact for what it claims.
    const tamperable: WorkerName[] = ["A", "C", "D", "E"]
    for (let i = 0; i < 24; i++) {
        const name = tamperable[i % tamperable.length]!
        const task = textTask(models[WORKERS[name].model], i + 20)
        const work = await run(name, task)
        const greedy = task.sampling.temperature === "0"
        // A real alternative: for greedy output one clearly worse than the chosen token, else any other candidate.
        let position = -1
        let replacement = -1
        for (let offset = 0; offset < work.tokens.length && position === -1; offset++) {
            const p = (Math.floor(work.tokens.length / 2) + offset) % work.tokens.length
            const record = work.tokens[p]!
            const alternative = record.top.find(
                ([token, logprob]) => token !== record.token && (!greedy || record.top[0]![1] - logprob > 1)
            )
            if (alternative != null) [position, replacement] = [p, alternative[0]]
        }
        const tampered = [...work.outputTokens]
        tampered[position] = replacement as Token
        if (i < 16) {
            add(
                "swapped token",
                `${name} ${greedy ? "greedy" : "sampled"}, position ${position}`,
                task,
                await consistentWork(await worker(name), work, tampered)
            )
        } else {
            // Naively fabricated: the swapped token's record copied from the original top list, the rest left as generated.
            const tokens = work.tokens.map((record, p) =>
                p !== position
                    ? record
                    : {token: replacement, logprob: record.top.find(([token]) => token === replacement)![1], top: record.top}
            )
            const model = await worker(name)
            add("fabricated records", `${name} ${greedy ? "greedy" : "sampled"}, position ${position}`, task, {
                ...work,
                outputTokens: tampered,
                tokens,
                output: model.detokenize(tampered)
            })
        }
    }

    // Junk appended to a shorter honest generation, and wholly random output.
    const vocabulary = PRESETS.tiny.shape.vocabularySize
    const randomToken = () => 261 + choose.int(vocabulary - 261)
    for (let i = 0; i < 10; i++) {
        const name = tamperable[i % tamperable.length]!
        const task = textTask(models[WORKERS[name].model], i + 50, i % 2 === 0 ? GREEDY : sampledSettings(300 + i)[i % 5]!)
        const junk = 4 + (i % 3) * 4
        const work = await run(name, task, {sampling: {...task.sampling, maxTokens: task.sampling.maxTokens - junk}})
        const tail =
            i % 3 === 0
                ? Array.from({length: junk}, randomToken)
                : i % 3 === 1
                  ? Array<number>(junk).fill(work.outputTokens.at(-1)!)
                  : work.outputTokens.slice(0, junk)
        add("appended junk", `${name}, ${junk} tokens (${["random", "repeated", "copied"][i % 3]})`, task, {
            ...(await consistentWork(await worker(name), work, [...work.outputTokens, ...tail])),
            stopReason: "maxTokens"
        })
    }
    for (let i = 0; i < 10; i++) {
        const name = tamperable[i % tamperable.length]!
        const task = textTask(models[WORKERS[name].model], i + 60)
        const work = await run(name, task)
        add(
            "random tokens",
            `${name}, ${work.outputTokens.length} random tokens`,
            task,
            await consistentWork(await worker(name), work, work.outputTokens.map(randomToken))
        )
    }

    // Output cut short to save work, with a stop reason that does not hold.
    for (let i = 0; i < 4; i++) {
        const task = textTask(models.tiny, i + 65)
        const work = await run("A", task, {sampling: {...task.sampling, maxTokens: task.sampling.maxTokens - 10}})
        add(
            "stopped early",
            `${work.outputTokens.length} of ${task.sampling.maxTokens} tokens, says ${i % 2 === 0 ? "maxTokens" : "eos"}`,
            task,
            {...work, stopReason: i % 2 === 0 ? "maxTokens" : "eos"}
        )
    }

    // The prompt: another one run under the task's prompt hash, or a truncated one.
    for (let i = 0; i < 8; i++) {
        const task = textTask(models.tiny, i + 70)
        const altered = i % 2 === 0 ? task.prompt.replace(/\b(\w+)$/, "forest") : `${task.prompt} and the king`
        const claims = i >= 6 ? {promptSha256: hashPrompt(altered)} : {}
        add(
            "altered prompt",
            i >= 6 ? "ran another prompt, said so" : "ran another prompt under the task's hash",
            task,
            await run("A", task, {prompt: altered}),
            claims
        )
    }
    for (let i = 0; i < 8; i++) {
        if (i < 6) {
            const task = newTask(models.tiny, texts[16 + (i % 4)]!, "text", samplingFor(i))
            const words = task.prompt.split(" ")
            const kept = i % 2 === 0 ? words.slice(Math.floor(words.length / 2)) : words.slice(0, Math.floor(words.length / 2))
            add(
                "truncated prompt",
                `kept the ${i % 2 === 0 ? "last" : "first"} ${kept.length} of ${words.length} words`,
                task,
                await run(i % 3 === 0 ? "C" : "A", task, {prompt: kept.join(" ")})
            )
        } else {
            const task = newTask(models.tiny, chats[i === 6 ? 1 : 3]!, "chat", samplingFor(i))
            const fed = JSON.stringify((JSON.parse(task.prompt) as {role: string}[]).filter((message) => message.role !== "system"))
            add("truncated prompt", "chat without its system message", task, await run("A", task, {prompt: fed}))
        }
    }

    // Other sampling than the task's, under the task's parameters (or stating the ones used).
    const sampledTask = (i: number) => textTask(models.tiny, i, sampledSettings(500 + i)[i % 5]!)
    const samplingCases: [string, number, (s: Sampling) => Sampling, boolean][] = [
        ["greedy output for a sampled task", 6, (s) => ({...s, temperature: "0"}), false],
        ["another seed", 5, (s) => ({...s, seed: s.seed + 1000}), false],
        ["another temperature", 5, (s) => ({...s, temperature: Number(s.temperature) > 1 ? "0.4" : "1.8"}), false],
        ["other top-k / top-p", 3, (s) => ({...s, topK: s.topK === 0 ? 3 : 0, topP: s.topP === "1" ? "0.5" : "1"}), false],
        ["stated other sampling", 4, (s) => ({...s, seed: s.seed + 1}), true]
    ]
    for (const [description, count, change, stated] of samplingCases) {
        for (let made = 0, i = 0; made < count && i < 40; i++) {
            const task = sampledTask(i + 80 + description.length)
            const used = change(task.sampling)
            const work = await run("A", task, {sampling: used})
            // Output the task's own parameters would have produced too is no cheat.
            if (same(work.outputTokens, (await run("A", task)).outputTokens)) continue
            add("other sampling", description, task, work, stated ? {sampling: used} : {})
            made++
        }
    }

    // Commitments: stored bytes that are not what Receipt-Hash names, or output that is not what Task-Result sent.
    for (let i = 0; i < 8; i++) {
        const task = textTask(models.tiny, i + 90)
        const receipt = receiptFor(task, await run("A", task))
        const original = encodeReceipt(receipt)
        if (i < 4) {
            const edited =
                i % 2 === 0
                    ? {...receipt, log: [...receipt.log, "edited after upload"]}
                    : {...receipt, timings: {...receipt.timings, generationMs: 1}}
            dishonest.push(caseFor("receipt hash", "bytes edited after hashing", task, edited, {receiptHash: original.hash}))
        } else if (i < 6) {
            const other = encodeReceipt({...receipt, taskId: "another-task"})
            dishonest.push(caseFor("receipt hash", "Receipt-Hash of another receipt", task, receipt, {receiptHash: other.hash}))
        } else {
            dishonest.push(
                caseFor("receipt hash", "Task-Result output differs from the receipt", task, receipt, {
                    output: `${receipt.output} and more`
                })
            )
        }
    }

    for (const item of [...honest, ...dishonest]) {
        const model: LoadedModel = await pool.verifierFor(item)
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
    for (const item of dishonest) {
        const model: LoadedModel = await pool.verifierFor(item)
        loose.set(
            item,
            await verifyReceipt({
                receipt: JSON.parse(item.bytes.toString("utf8")),
                receiptBytes: item.bytes,
                expected: item.expected,
                model,
                thresholds: GPU_THRESHOLDS[model.weightClass]
            })
        )
    }
}, 900_000)

afterAll(async () => {
    await engine?.dispose()
    if (dir != null) await rm(dir, {recursive: true, force: true})
})

/** Which checks flagged a report, as short names. */
function caughtBy(report: VerificationReport): string[] {
    const by = new Set(report.structural.filter((check) => check.status === "fail").map((check) => check.name))
    for (const position of report.positions.filter((p) => !p.ok)) {
        const why = position.why!
        if (why.includes("claimed log-probability")) by.add("token logprob")
        if (why.includes("own top list")) by.add("greedy record")
        else if (why.includes("top list") || why.includes("top-list")) by.add("top lists")
        if (why.includes("nats below the verifier's best")) by.add("greedy margin")
        if (why.includes("support")) by.add("sampler support")
        if (why.includes("seed's draw")) by.add("seed replay")
    }
    if (report.reasons.some((reason) => reason.includes("on average"))) by.add("mean top delta")
    if (report.reasons.some((reason) => reason.includes("within near-ties"))) by.add("replay flip budget")
    if (report.reasons.some((reason) => reason.includes("cannot re-score"))) by.add("vocabulary")
    return [...by]
}

describe("verifier corpus", () => {
    it("has at least 100 honest and 100 dishonest receipts", () => {
        expect(honest.length).toBeGreaterThanOrEqual(100)
        expect(dishonest.length).toBeGreaterThanOrEqual(100)
    })

    it("passes every honest receipt", () => {
        const flagged = honest.filter((item) => results.get(item)!.verdict !== "valid")
        for (const item of flagged) console.log(`FALSE POSITIVE ${item.description}: ${results.get(item)!.reasons.slice(0, 3).join(" | ")}`)
        expect(flagged.map((item) => item.description)).toEqual([])
    })

    it("flags every dishonest receipt, finer weights than claimed included", () => {
        const missed = dishonest.filter((item) => results.get(item)!.verdict !== "invalid")
        for (const item of missed)
            console.log(
                `MISSED ${item.kind}: ${item.description} ${JSON.stringify(item.expected.sampling)} ${JSON.stringify(results.get(item)!.aggregate)}`
            )
        expect(missed.map((item) => `${item.kind}: ${item.description}`)).toEqual([])
    })

    it("finds the tampered position in edited output", () => {
        for (const item of dishonest.filter((c) => c.kind === "swapped token")) {
            const position = Number(/position (\d+)/.exec(item.description)![1])
            expect(results.get(item)!.firstBadPosition, item.description).toBe(position)
        }
    })

    it("prints the counts", () => {
        const passed = honest.filter((item) => results.get(item)!.verdict === "valid").length
        const flagged = dishonest.filter((item) => results.get(item)!.verdict === "invalid").length
        const kinds = new Map<string, {total: number; flagged: number; loose: number; by: Map<string, number>}>()
        for (const item of dishonest) {
            const entry = kinds.get(item.kind) ?? {total: 0, flagged: 0, loose: 0, by: new Map()}
            entry.total++
            if (loose.get(item)!.verdict === "invalid") entry.loose++
            const report = results.get(item)!
            if (report.verdict === "invalid") entry.flagged++
            for (const name of caughtBy(report)) entry.by.set(name, (entry.by.get(name) ?? 0) + 1)
            kinds.set(item.kind, entry)
        }
        const lines = [`honest ${passed}/${honest.length} passed, dishonest ${flagged}/${dishonest.length} flagged`]
        for (const [kind, entry] of kinds)
            lines.push(
                `  ${kind}: ${entry.flagged}/${entry.total} flagged (${entry.loose} under the GPU profile); caught by ${[...entry.by].map(([name, n]) => `${name} ${n}`).join(", ")}`
            )
        // Receipts a replay decided were first re-scored with the profile's tolerances: grouped under it, their re-score's mean shown.
        const profileOf = (report: VerificationReport) => report.thresholds.profile.replace(/\/decode-replay$/, "")
        for (const profile of new Set(honest.map((item) => profileOf(results.get(item)!)))) {
            const reports = honest.map((item) => results.get(item)!).filter((report) => profileOf(report) === profile)
            const worst = (pick: (r: VerificationReport) => number) => Math.max(0, ...reports.map(pick)).toExponential(1)
            lines.push(
                `  honest ${profile} (${reports.length}, ${reports.filter((r) => r.decidedBy === "replay").length} decided by a decode replay), ` +
                    `worst re-score mean top |Δ| ${worst((r) => r.rescore?.meanTopDelta ?? r.aggregate.meanTopDelta)}; decided on: ` +
                    `token |Δ| ${worst((r) => r.aggregate.maxTokenDelta)}, top |Δ| ${worst((r) => r.aggregate.maxTopDelta)}, ` +
                    `receipt mean top |Δ| ${worst((r) => r.aggregate.meanTopDelta)}, greedy margin ${worst((r) => Math.max(0, ...r.positions.filter((p) => p.replay == null).map((p) => p.marginToTop1)))}, ` +
                    `replay distance ${worst((r) => Math.max(0, ...r.positions.map((p) => p.replay?.distance ?? 0)))}`
            )
        }
        console.log(lines.join("\n"))
        expect(passed).toBe(honest.length)
        expect(flagged).toBe(dishonest.length)
    })
})
