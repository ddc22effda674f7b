import http from "node:http"
import type {AddressInfo} from "node:net"
import {mkdtemp, rm} from "node:fs/promises"
import {tmpdir} from "node:os"
import {join} from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {sha256File, writeTestModel, type PulledModel} from "../../model-publisher/index.ts"
import type {TaskRecord} from "../../sdk/escrow/schemas.ts"
import {encodeReceipt, hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import type {ModelRecord, RegistryClient} from "../../sdk/registry/index.ts"
import {
    fetchTaskEvidence,
    TaskEvidenceError,
    verifierModelOptions,
    verifyReceipt,
    type FetchTaskEvidenceOptions
} from "../../verifier/index.ts"
import {InferenceEngine} from "../../worker/engine/index.ts"

// The I/O layer against a fake gateway (GET /<id>, POST /graphql) and a fake escrow; the model is a real tiny one.

const id = (name: string) => name.padEnd(43, "x")
const TASK = id("task")
const RECEIPT_TX = id("receipt")
const PROMPT_TX = id("prompt-tx")
const CREDIT_NOTICE = id("credit-notice")
const MODEL_ID = id("model")
const PROMPT = "The river ran past the old mill"
const sampling: Sampling = {maxTokens: 16, temperature: "0.8", topK: 40, topP: "0.95", seed: 5}

let dir: string
let engine: InferenceEngine
let gateway: http.Server
let gatewayUrl: string
let receipt: Receipt
let receiptBytes: Buffer
let receiptHash: string
let pulled: PulledModel
/** What the fake gateway holds: data by id, tags by id. */
const data = new Map<string, Buffer>()
const tags = new Map<string, Record<string, string>>()
/** Who signed an upload, as GraphQL's `owner { address }` says. */
const owners = new Map<string, string>()

beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "weavelm-evidence-"))
    const path = (await writeTestModel({preset: "tiny", seed: 1, path: join(dir, "tiny.gguf")})).path
    const sha256 = await sha256File(path)
    engine = await InferenceEngine.create({gpu: "cpu"})
    const worker = await engine.loadModel(path, {contextSize: 256})
    const generation = await worker.generate({prompt: PROMPT, format: "text", sampling})
    await worker.dispose()
    receipt = {
        version: 1,
        taskId: TASK,
        worker: id("worker"),
        model: {id: MODEL_ID, sha256},
        prompt: {format: "text", sha256: hashPrompt(PROMPT), messageId: TASK},
        sampling,
        engine: generation.engine,
        inputTokens: generation.inputTokens,
        outputTokens: generation.outputTokens,
        output: generation.output,
        stopReason: generation.stopReason,
        tokens: generation.tokens,
        timings: {startedAt: 0, promptMs: 1, generationMs: 1},
        log: []
    }
    ;({bytes: receiptBytes, hash: receiptHash} = encodeReceipt(receipt))
    pulled = {path, sha256, cached: true, model: {id: MODEL_ID, sha256} as ModelRecord}

    data.set(RECEIPT_TX, receiptBytes)
    tags.set(RECEIPT_TX, {"App-Name": "weavelm", Type: "Receipt", "Task-Id": TASK, "Model-Id": MODEL_ID, "Receipt-Hash": receiptHash})
    data.set(TASK, Buffer.from(PROMPT))
    tags.set(TASK, {Action: "Infer", Model: MODEL_ID})
    data.set(PROMPT_TX, Buffer.from(PROMPT))
    data.set(CREDIT_NOTICE, Buffer.from("1984"))
    tags.set(CREDIT_NOTICE, {Action: "Credit-Notice", "X-Action": "Infer", "X-Prompt": PROMPT})
    gateway = http.createServer((request, response) => {
        const body: Buffer[] = []
        request.on("data", (chunk: Buffer) => body.push(chunk))
        request.on("end", () => {
            if (request.method === "POST" && request.url === "/graphql") {
                const {query} = JSON.parse(Buffer.concat(body).toString()) as {query: string}
                const ids = [...query.matchAll(/"([A-Za-z0-9_-]{43})"/g)].map((m) => m[1]!)
                const edges = ids
                    .filter((i) => tags.has(i))
                    .map((i) => ({
                        node: {
                            id: i,
                            ...(owners.has(i) ? {owner: {address: owners.get(i)}} : {}),
                            tags: Object.entries(tags.get(i)!).map(([name, value]) => ({name, value}))
                        }
                    }))
                response.writeHead(200, {"content-type": "application/json"})
                return response.end(JSON.stringify({data: {transactions: {edges}}}))
            }
            const found = data.get((request.url ?? "/").slice(1))
            response.writeHead(found == null ? 404 : 200)
            response.end(found)
        })
    })
    await new Promise<void>((resolve) => gateway.listen(0, resolve))
    gatewayUrl = `http://localhost:${(gateway.address() as AddressInfo).port}`
})
afterAll(async () => {
    gateway?.closeAllConnections()
    await new Promise((resolve) => gateway?.close(resolve))
    await engine?.dispose()
    await rm(dir, {recursive: true, force: true})
})

const completed = (changes: Partial<TaskRecord> & Record<string, unknown> = {}): TaskRecord => ({
    id: TASK,
    state: "Completed",
    requester: id("requester"),
    worker: id("worker"),
    model: MODEL_ID,
    modelSha256: pulled.sha256,
    maxTokens: sampling.maxTokens,
    temperature: sampling.temperature,
    topK: sampling.topK,
    topP: sampling.topP,
    seed: sampling.seed,
    format: "text",
    maxFee: "1000",
    attempt: 1,
    promptMessage: TASK,
    inputTokens: receipt.inputTokens.length,
    outputTokens: receipt.outputTokens.length,
    receiptTx: RECEIPT_TX,
    receiptHash,
    output: receipt.output,
    ...changes
})

function sources(task: TaskRecord | null, extra: Partial<FetchTaskEvidenceOptions> = {}): FetchTaskEvidenceOptions {
    return {
        taskId: TASK,
        escrow: {task: async () => task},
        registry: {} as RegistryClient,
        gateway: gatewayUrl,
        cacheDir: dir,
        pullModel: async ({ref}) => ({...pulled, model: {...pulled.model, id: ref}}),
        retry: {attempts: 1},
        ...extra
    }
}

describe("fetchTaskEvidence", () => {
    it("gathers a completed task's receipt, prompt and model, and the verifier passes them", async () => {
        const evidence = await fetchTaskEvidence(sources(completed()))
        expect(Buffer.from(evidence.receiptBytes)).toEqual(receiptBytes)
        expect(evidence.receipt).toEqual(receipt)
        expect(evidence.prompt).toEqual({text: PROMPT, source: "prompt-message"})
        expect(evidence.notes).toEqual([])
        expect(evidence.expected).toEqual({
            taskId: TASK,
            modelId: MODEL_ID,
            modelSha256: pulled.sha256,
            prompt: PROMPT,
            format: "text",
            sampling,
            inputTokenCount: receipt.inputTokens.length,
            outputTokenCount: receipt.outputTokens.length,
            receiptHash,
            output: receipt.output
        })

        const model = await engine.loadModel(evidence.model.path, verifierModelOptions(evidence.receipt!))
        try {
            const report = await verifyReceipt({
                receipt: evidence.receipt,
                receiptBytes: evidence.receiptBytes,
                expected: evidence.expected,
                model
            })
            expect(report.reasons).toEqual([])
            expect(report.verdict).toBe("valid")
            expect(report.structural.filter((check) => check.status === "skipped").map((check) => check.name)).toEqual([])
        } finally {
            await model.dispose()
        }
    })

    it("reads the prompt from Prompt-Tx, a per-call Infer's X-Prompt tag, the task record, or the caller", async () => {
        expect((await fetchTaskEvidence(sources(completed({promptTx: PROMPT_TX})))).prompt).toEqual({text: PROMPT, source: "prompt-tx"})
        expect((await fetchTaskEvidence(sources(completed({promptMessage: CREDIT_NOTICE, perCall: true})))).prompt).toEqual({
            text: PROMPT,
            source: "prompt-message-tag"
        })
        expect((await fetchTaskEvidence(sources(completed({prompt: PROMPT})))).prompt).toEqual({text: PROMPT, source: "task"})
        expect((await fetchTaskEvidence(sources(completed(), {prompt: "mine"}))).prompt).toEqual({text: "mine", source: "input"})

        const missing = await fetchTaskEvidence(sources(completed({promptMessage: id("gone")})))
        expect(missing.prompt).toBeNull()
        expect(missing.expected.prompt).toBeUndefined()
        expect(missing.notes.join()).toMatch(/prompt message .* cannot be read/)
    })

    it("notes upload tags that disagree with the task", async () => {
        tags.set(RECEIPT_TX, {...tags.get(RECEIPT_TX)!, "Task-Id": id("other")})
        try {
            expect((await fetchTaskEvidence(sources(completed()))).notes.join()).toMatch(/Task-Id tag/)
        } finally {
            tags.set(RECEIPT_TX, {...tags.get(RECEIPT_TX)!, "Task-Id": TASK})
        }
    })

    it("hands back bytes that are not a receipt for the verifier to fail", async () => {
        data.set(id("junk"), Buffer.from("not json"))
        const evidence = await fetchTaskEvidence(sources(completed({receiptTx: id("junk")})))
        expect(evidence.receipt).toBeNull()
        expect(evidence.receiptError).toMatch(/not a receipt/)
    })

    it("says which evidence is missing", async () => {
        const code = (promise: Promise<unknown>) =>
            promise.then(
                () => null,
                (error: unknown) => (error as TaskEvidenceError).code
            )
        expect(await code(fetchTaskEvidence(sources(null)))).toBe("task-not-found")
        expect(await code(fetchTaskEvidence(sources(completed({state: "Assigned", receiptTx: undefined, receiptHash: undefined}))))).toBe(
            "no-result"
        )
        expect(await code(fetchTaskEvidence(sources(completed({receiptTx: id("missing")}))))).toBe("receipt-unavailable")
        expect(await code(fetchTaskEvidence(sources(completed({modelSha256: "0".repeat(64)}))))).toBe("model-mismatch")
        await expect(fetchTaskEvidence(sources(null))).rejects.toBeInstanceOf(TaskEvidenceError)
    })
})

describe("fetchTaskEvidence of a direct request", () => {
    const BATCH = id("batch")
    const CHANNEL = id("channel")
    const EVIDENCE = id("evidence")
    const WORKER = id("worker")
    /** A direct request's record; only the dispute's evidenceTx is read of its dispute. */
    const direct = (changes: Record<string, unknown> = {}) =>
        ({
            id: TASK,
            state: "Challenged",
            direct: true,
            channel: CHANNEL,
            requester: id("requester"),
            worker: WORKER,
            model: MODEL_ID,
            modelSha256: pulled.sha256,
            fee: "10",
            locked: "0",
            attempt: 0,
            receiptTx: BATCH,
            receiptHash,
            dispute: {evidenceTx: id("no-evidence")},
            ...changes
        }) as unknown as TaskRecord

    beforeAll(() => {
        const other = encodeReceipt({...receipt, taskId: id("other-request")}).bytes
        data.set(
            BATCH,
            Buffer.from(JSON.stringify({channel: CHANNEL, receipts: [other.toString("base64"), receiptBytes.toString("base64")]}))
        )
        tags.set(BATCH, {Type: "Receipt-Batch", Channel: CHANNEL, Worker: WORKER})
        owners.set(BATCH, WORKER)
        data.set(EVIDENCE, Buffer.from(JSON.stringify({version: 1, prompt: PROMPT})))
    })

    it("finds the receipt in the worker's Receipt-Batch by its hash and verifies it without the prompt", async () => {
        const evidence = await fetchTaskEvidence(sources(direct()))
        expect(evidence.unfounded).toBeUndefined()
        expect(evidence.receiptTx).toBe(BATCH)
        expect(Buffer.from(evidence.receiptBytes)).toEqual(receiptBytes)
        expect(evidence.receipt).toEqual(receipt)
        expect(evidence.prompt).toBeNull()
        expect(evidence.expected).toEqual({taskId: TASK, modelId: MODEL_ID, modelSha256: pulled.sha256, receiptHash})

        const model = await engine.loadModel(evidence.model.path, verifierModelOptions(evidence.receipt!))
        try {
            const report = await verifyReceipt({
                receipt: evidence.receipt,
                receiptBytes: evidence.receiptBytes,
                expected: evidence.expected,
                model
            })
            expect(report.verdict).toBe("valid")
            expect(report.checked).toBe(receipt.outputTokens.length)
            expect(report.structural.filter((check) => check.status === "skipped").map((check) => check.name)).toContain("prompt.tokens")
        } finally {
            await model.dispose()
        }
    })

    it("takes the prompt from the caller, else from the challenger's evidence report", async () => {
        expect((await fetchTaskEvidence(sources(direct({dispute: {evidenceTx: EVIDENCE}})))).prompt).toEqual({
            text: PROMPT,
            source: "evidence"
        })
        expect((await fetchTaskEvidence(sources(direct(), {prompt: "mine"}))).prompt).toEqual({text: "mine", source: "input"})
    })

    it("finds the challenge unfounded when the batch is not the worker's, not the channel's, or lacks the receipt", async () => {
        owners.set(BATCH, id("stranger"))
        try {
            expect((await fetchTaskEvidence(sources(direct()))).unfounded).toMatch(/is signed by .*stranger.*, not by the channel's worker/)
        } finally {
            owners.set(BATCH, WORKER)
        }
        expect((await fetchTaskEvidence(sources(direct({channel: id("other-channel")})))).unfounded).toMatch(
            /is not a Receipt-Batch of channel/
        )
        expect((await fetchTaskEvidence(sources(direct({receiptHash: "0".repeat(64)})))).unfounded).toMatch(
            /holds no receipt with SHA-256 0{64}/
        )
        expect((await fetchTaskEvidence(sources(direct({id: id("other-id")})))).unfounded).toMatch(
            /the receipt is of request .*, not of the challenged/
        )
        await expect(fetchTaskEvidence(sources(direct({receiptTx: id("missing")})))).rejects.toMatchObject({code: "receipt-unavailable"})
    })
})
