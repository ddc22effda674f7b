import {createHash} from "node:crypto"
import {copyFile, mkdir, mkdtemp, rm} from "node:fs/promises"
import http from "node:http"
import type {AddressInfo} from "node:net"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, describe, expect, it, vi} from "vitest"
import {sha256File, writeTestModel} from "../../model-publisher/index.ts"
import type {EscrowClient} from "../../sdk/escrow/index.ts"
import type {TaskRecord} from "../../sdk/escrow/schemas.ts"
import {encodeReceipt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import type {ModelRecord, RegistryClient} from "../../sdk/registry/index.ts"
import type {StorageBackend} from "../../sdk/storage/index.ts"
import type {VerificationDocument} from "../../verifier/index.ts"
import {InferenceEngine, type LoadedModel, type LoadedModelOptions} from "../../worker/engine/index.ts"
import {RefereeDuty, type RefereeRequest} from "../../worker/service/index.ts"
import {consistentWork, receiptFor, type ModelFile, type Task, type Work} from "../verifier/corpus.ts"

/*
 * Referees on different machines must reach the same verdict on the same dispute. Each dispute here
 * is a receipt made by the real engine (honest, or tampered the way a cheater would), stored behind
 * a fake gateway and escrow, and judged by three RefereeDuty instances whose engines run 1, 2 and 3
 * threads. Their published reports must agree in every number but the engine they name. Some
 * receipts hold more than 512 tokens, where flash-attention decoding would split by thread count.
 */

const CONTEXT_SIZE = 1024
const REFEREE_THREADS = [1, 2, 3]
const GREEDY: Sampling = {maxTokens: 24, temperature: "0", topK: 40, topP: "1", seed: 0}
const SAMPLED: Sampling = {maxTokens: 24, temperature: "0.9", topK: 40, topP: "0.95", seed: 11}
const WORDS = [
    "river",
    "mill",
    "king",
    "boat",
    "morning",
    "city",
    "door",
    "house",
    "father",
    "bridge",
    "children",
    "letter",
    "storm",
    "market",
    "forest",
    "sea"
]
const SHORT_PROMPT = "The river ran past the old mill"
/** About 500 tokens: with the output the sequence passes 512 cached cells, where multi-thread flash attention splits. */
const LONG_PROMPT = Array.from({length: 250}, (_, i) => `the ${WORDS[(i * 7) % WORDS.length]}`).join(" ")

const id = (name: string) => createHash("sha256").update(name).digest("base64url").slice(0, 43)

interface Dispute {
    description: string
    /**
     * What an agreeing committee should find; null where only the agreement is asserted: a receipt
     * made with flash attention on is replayed with it off, and how far apart those numbers may be is
     * the thresholds' business (docs/verification.md, "Referees: decode replay").
     */
    verdict: "valid" | "invalid" | null
    receipt: Receipt
    task: Task
}

let dir: string
let engine: InferenceEngine
let gateway: http.Server
let gatewayUrl: string
const models = {} as Record<"small" | "smallQ8" | "smallOther", ModelFile>
const data = new Map<string, Buffer>()
const records = new Map<string, TaskRecord>()
const disputes: Dispute[] = []

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-referee-"))
    const specs = {small: {type: "f16", seed: 1}, smallQ8: {type: "q8_0", seed: 1}, smallOther: {type: "f16", seed: 2}} as const
    for (const [name, spec] of Object.entries(specs) as [keyof typeof specs, (typeof specs)[keyof typeof specs]][]) {
        const path = join(dir, `${name}.gguf`)
        await writeTestModel({preset: "small", ...spec, path})
        const sha256 = await sha256File(path)
        models[name] = {name, preset: "small", ...spec, path, sha256, id: id(name)}
        // The referees' model cache already holds the file: pullModel then only asks the registry for its hash.
        await mkdir(join(dir, "cache", "models"), {recursive: true})
        await copyFile(path, join(dir, "cache", "models", `${sha256}.gguf`))
    }
    engine = await InferenceEngine.create({gpu: "cpu", threads: 1})

    const workers = new Map<string, Promise<LoadedModel>>()
    const worker = (file: ModelFile, options: LoadedModelOptions = {}) => {
        const key = `${file.name}|${options.threads ?? 1}|${options.flashAttention ?? "default"}`
        if (!workers.has(key)) workers.set(key, engine.loadModel(file.path, {contextSize: CONTEXT_SIZE, ...options}))
        return workers.get(key)!
    }
    const generate = async (file: ModelFile, prompt: string, sampling: Sampling, options?: LoadedModelOptions): Promise<Work> =>
        await (await worker(file, options)).generate({prompt, format: "text", sampling})
    const add = (description: string, verdict: Dispute["verdict"], task: Task, work: Work) =>
        disputes.push({description, verdict, task, receipt: receiptFor(task, work)})
    const task = (n: number, model: ModelFile, prompt: string, sampling: Sampling): Task => ({
        taskId: id(`task-${n}`),
        prompt,
        format: "text",
        sampling,
        model
    })
    /** A cheater's edit: one token swapped for a real alternative (for greedy output a clearly worse one), records re-scored to match. */
    const swapped = async (file: ModelFile, base: Work, greedy: boolean): Promise<Work> => {
        const position = base.tokens.findIndex(
            (record, p) =>
                p >= base.tokens.length / 2 &&
                record.top.some(([token, logprob]) => token !== record.token && (!greedy || record.top[0]![1] - logprob > 1))
        )
        const replacement = base.tokens[position]!.top.find(
            ([token, logprob]) => token !== base.tokens[position]!.token && (!greedy || base.tokens[position]!.top[0]![1] - logprob > 1)
        )![0]
        return await consistentWork(
            await worker(file),
            base,
            base.outputTokens.map((token, p) => (p === position ? replacement : token))
        )
    }

    const long = {...GREEDY, maxTokens: 32}
    add(
        "honest greedy, flash attention off, 1 thread",
        "valid",
        task(1, models.small, SHORT_PROMPT, GREEDY),
        await generate(models.small, SHORT_PROMPT, GREEDY, {flashAttention: false})
    )
    add(
        "honest sampled past 512 tokens, flash attention off, 2 threads",
        "valid",
        task(2, models.small, LONG_PROMPT, {...SAMPLED, maxTokens: 32}),
        await generate(models.small, LONG_PROMPT, {...SAMPLED, maxTokens: 32}, {threads: 2, flashAttention: false})
    )
    add(
        'honest greedy past 512 tokens, flash attention on (node-llama-cpp\'s "auto"), 2 threads',
        null,
        task(3, models.small, LONG_PROMPT, long),
        await generate(models.small, LONG_PROMPT, long, {threads: 2, flashAttention: "auto"})
    )
    add(
        "greedy past 512 tokens, one token swapped",
        "invalid",
        task(4, models.small, LONG_PROMPT, long),
        await swapped(models.small, await generate(models.small, LONG_PROMPT, long), true)
    )
    add(
        "sampled, one token swapped",
        "invalid",
        task(5, models.small, SHORT_PROMPT, SAMPLED),
        await swapped(models.small, await generate(models.small, SHORT_PROMPT, SAMPLED), false)
    )
    add(
        "sampled by another model (seed 2) claimed as seed 1",
        "invalid",
        task(6, models.small, SHORT_PROMPT, SAMPLED),
        await generate(models.smallOther, SHORT_PROMPT, SAMPLED)
    )
    add(
        "greedy past 512 tokens by the q8_0 weights claimed as f16",
        "invalid",
        task(7, models.small, LONG_PROMPT, long),
        await generate(models.smallQ8, LONG_PROMPT, long)
    )
    for (const loaded of workers.values()) await (await loaded).dispose()

    for (const [n, {task: t, receipt}] of disputes.entries()) {
        const {bytes, hash} = encodeReceipt(receipt)
        const receiptTx = id(`receipt-${n}`)
        data.set(receiptTx, bytes)
        records.set(t.taskId, {
            id: t.taskId,
            state: "Challenged",
            requester: id("requester"),
            worker: receipt.worker,
            model: t.model.id,
            modelSha256: t.model.sha256,
            ...t.sampling,
            format: t.format,
            maxFee: "1000",
            attempt: 1,
            prompt: t.prompt,
            inputTokens: receipt.inputTokens.length,
            outputTokens: receipt.outputTokens.length,
            receiptTx,
            receiptHash: hash,
            output: receipt.output,
            dispute: {id: id(`challenge-${n}`), votes: {}, committee: [], deadline: Date.now() + 3_600_000}
        } as unknown as TaskRecord)
    }
    gateway = http.createServer((request, response) => {
        request.resume().on("end", () => {
            // GraphQL knows no upload tags here: the evidence notes it, and the verdict does not depend on them.
            if (request.method === "POST")
                return response
                    .writeHead(200, {"content-type": "application/json"})
                    .end(JSON.stringify({data: {transactions: {edges: []}}}))
            const found = data.get((request.url ?? "/").slice(1))
            response.writeHead(found == null ? 404 : 200).end(found)
        })
    })
    await new Promise<void>((resolve) => gateway.listen(0, resolve))
    gatewayUrl = `http://localhost:${(gateway.address() as AddressInfo).port}`
}, 600_000)

afterAll(async () => {
    gateway?.closeAllConnections()
    await new Promise((resolve) => gateway?.close(resolve))
    await engine?.dispose()
    await rm(dir, {recursive: true, force: true})
})

/** Runs one referee over every dispute; resolves with its published reports in dispute order. */
async function referee(
    threads: number,
    served: (sha256: string) => LoadedModel | undefined = () => undefined
): Promise<VerificationDocument[]> {
    const refereeEngine = await InferenceEngine.create({gpu: "cpu", threads})
    const published = new Map<string, VerificationDocument>()
    const votes = new Map<string, string>()
    const failures: string[] = []
    let answered = () => {}
    const done = new Promise<void>((resolve) => (answered = () => votes.size + failures.length === disputes.length && resolve()))
    const escrow = {
        task: async (taskId: string) => records.get(taskId) ?? null,
        vote: async ({taskId, reportTx}: {taskId: string; reportTx: string}) => {
            votes.set(taskId, reportTx)
            answered()
            return {validVotes: 0, invalidVotes: 0}
        }
    }
    const registry = {
        model: async (ref: string) => {
            const file = Object.values(models).find((model) => model.id === ref)
            return file == null ? null : ({id: file.id, sha256: file.sha256, name: file.name} as ModelRecord)
        },
        // Where the challenged worker runs, which picks the profile.
        worker: async () => ({hardware: "cpu"})
    }
    const storage: StorageBackend = {
        uploadFile: async () => {
            throw new Error("referees upload no files")
        },
        uploadData: async (bytes) => {
            const reportTx = id(`report-${threads}-${published.size}`)
            published.set(reportTx, JSON.parse(bytes.toString()) as VerificationDocument)
            return {id: reportTx}
        }
    }
    const duty = new RefereeDuty({
        address: id(`referee-${threads}`),
        escrow: escrow as unknown as EscrowClient,
        registry: registry as unknown as RegistryClient,
        gateway: gatewayUrl,
        cacheDir: join(dir, "cache"),
        storage,
        engine: refereeEngine,
        served,
        log: (_level, event, message) => {
            if (event === "referee.failed") {
                failures.push(message)
                answered()
            }
        }
    })
    try {
        for (const {task, receipt} of disputes) {
            const record = records.get(task.taskId)!
            duty.accept({
                taskId: task.taskId,
                challengeId: record.dispute!.id,
                deadline: record.dispute!.deadline,
                model: receipt.model.id
            } satisfies RefereeRequest)
        }
        await done
        expect(failures).toEqual([])
        return disputes.map(({task}) => published.get(votes.get(task.taskId)!)!)
    } finally {
        await duty.stop()
        await refereeEngine.dispose()
    }
}

describe("referees", {timeout: 1_200_000}, () => {
    it("reach identical verdicts and reports with 1, 2 and 3 threads", async () => {
        expect(disputes.length).toBeGreaterThanOrEqual(6)
        expect(
            disputes.filter(({receipt}) => receipt.inputTokens.length + receipt.outputTokens.length > 512).length
        ).toBeGreaterThanOrEqual(3)
        const committee: VerificationDocument[][] = []
        for (const threads of REFEREE_THREADS) committee.push(await referee(threads))

        const judged = ({
            verdict,
            firstBadPosition,
            checked,
            reasons,
            structural,
            aggregate,
            thresholds,
            positions
        }: VerificationDocument) => ({verdict, firstBadPosition, checked, reasons, structural, aggregate, thresholds, positions})
        for (const [n, dispute] of disputes.entries()) {
            const [first, ...others] = committee.map((reports) => reports[n]!)
            expect(committee.map((reports) => reports[n]!.engine.threads)).toEqual(REFEREE_THREADS)
            for (const other of others) expect(judged(other!), dispute.description).toEqual(judged(first!))
            if (dispute.verdict != null)
                expect(first!.verdict, `${dispute.description}: ${first!.reasons.join("; ")}`).toBe(dispute.verdict)
            expect(first!.checked).toBe(dispute.receipt.outputTokens.length)
        }
    })

    it("reuse a served model only when its flash attention is off", async () => {
        const dispute = disputes[0]!
        const options = {contextSize: CONTEXT_SIZE, batchSize: dispute.receipt.engine.batchSize}
        const auto = await engine.loadModel(models.small.path, {...options, flashAttention: "auto"})
        const pinned = await engine.loadModel(models.small.path, {...options, flashAttention: false})
        try {
            const autoScore = vi.spyOn(auto, "score")
            await referee(1, (sha256) => (sha256 === models.small.sha256 ? auto : undefined))
            expect(autoScore).not.toHaveBeenCalled()

            const pinnedScore = vi.spyOn(pinned, "score")
            const reports = await referee(1, (sha256) => (sha256 === models.small.sha256 ? pinned : undefined))
            expect(pinnedScore).toHaveBeenCalled()
            expect(pinnedScore.mock.calls.every(([request]) => request.mode === "decode")).toBe(true)
            expect(reports.map((report) => report.verdict)).toEqual(disputes.map((d, n) => d.verdict ?? reports[n]!.verdict))
        } finally {
            await auto.dispose()
            await pinned.dispose()
        }
    })
})

describe("decode replay", {timeout: 600_000}, () => {
    it("reproduces an honest receipt made with flash attention off bit for bit, past 512 tokens, with any thread count", async () => {
        for (const sampling of [
            {...GREEDY, maxTokens: 32},
            {...SAMPLED, maxTokens: 32}
        ]) {
            const worker = await engine.loadModel(models.smallQ8.path, {contextSize: CONTEXT_SIZE, flashAttention: false})
            const generation = await worker.generate({prompt: LONG_PROMPT, format: "text", sampling})
            await worker.dispose()
            expect(generation.inputTokens.length + generation.outputTokens.length).toBeGreaterThan(512)
            for (const threads of [1, 2]) {
                const replayer = await engine.loadModel(models.smallQ8.path, {
                    contextSize: CONTEXT_SIZE,
                    batchSize: generation.engine.batchSize,
                    flashAttention: false,
                    threads
                })
                try {
                    const replayed = await replayer.score({
                        inputTokens: generation.inputTokens,
                        outputTokens: generation.outputTokens,
                        topK: 8,
                        mode: "decode"
                    })
                    expect(replayed.map((record) => record.logprob)).toEqual(generation.tokens.map((record) => record.logprob))
                    expect(replayed.map((record) => record.top.slice(0, 5))).toEqual(generation.tokens.map((record) => record.top))
                } finally {
                    await replayer.dispose()
                }
            }
        }
    })
})
