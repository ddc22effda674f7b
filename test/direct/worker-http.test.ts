import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {
    ChannelClient,
    ChannelLedger,
    encodeVoucherHeader,
    parseDirectRequest,
    requestFee,
    requestFeeBound,
    signVoucher,
    VOUCHER_HEADER,
    type ChannelRecord,
    type CompletionEndpoint,
    type SignedVoucher
} from "../../sdk/channel/index.ts"
import {decodeReceipt, hashPrompt, hashReceiptBytes} from "../../sdk/receipt/index.ts"
import {readEventStream} from "../../sdk/sse/index.ts"
import {verifierModelOptions, verifyReceipt} from "../../verifier/index.ts"
import {InferenceEngine} from "../../worker/engine/index.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {eventually} from "../harness/eventually.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const DEVNET_PORT = 4866
const HTTP_PORT = 4872
const BASE = `http://127.0.0.1:${HTTP_PORT}/v1`
const DEPOSIT = "200000"
const TERMS = {priceInput: "1000", priceOutput: "2000", ownerFeeBps: 1000}

/** One answered request, as the owner saw it. */
interface Answered {
    voucher: SignedVoucher
    bound: bigint
    fee: bigint
    receiptHash: string
    output: string
    prompt: string
}

/** Polls `find` until it returns something, for up to a minute. */
const awaitFound = <T>(find: () => T | undefined, failure: string) =>
    eventually(async () => {
        const found = find()
        if (found === undefined) throw new Error(failure)
        return found
    })

interface SseEvent {
    data: string
    json?: any
}

describe("the worker's OpenAI-compatible endpoint on the devnet", {timeout: 600_000}, () => {
    let net: TestDevnet
    let worker: WorkerProcess
    let model: {modelId: string; sha256: string}
    let owner: Awaited<ReturnType<typeof fundedActor>>
    let channel: ChannelRecord
    let ledger: ChannelLedger
    const answered: Answered[] = []
    /** What the channel closed in the middle paid the worker. */
    let closingWorkerShare = 0n
    /** What the first settlement of the main channel paid. */
    let firstPaid = 0n
    let workerWallet: string
    let cacheDir: string

    const startWorker = async () => {
        const started = await startWorkerCli(
            [
                "--network",
                net.devnet.networkFile,
                "--wallet",
                workerWallet,
                "--models",
                "tiny",
                "--concurrency",
                "1",
                "--gpu",
                "cpu",
                "--threads",
                "1",
                "--cache-dir",
                cacheDir,
                "--stake",
                "1000",
                "--price-input",
                TERMS.priceInput,
                "--price-output",
                TERMS.priceOutput,
                "--http",
                String(HTTP_PORT),
                "--http-capacity",
                "1",
                "--settle-threshold",
                "1000000000",
                "--settle-interval",
                "3600"
            ],
            {timeoutMs: 180_000}
        )
        await awaitFound(() => started.events.find((e) => e.event === "http.ready"), `no http.ready: ${JSON.stringify(started.events)}`)
        return started
    }

    const settlementOf = (id: string) =>
        awaitFound(
            () => worker.events.find((e) => e.event === "channel.settled" && e.channel === id),
            `channel ${id} not settled: ${JSON.stringify(worker.events.slice(-5))}`
        )

    /** The owner's side of a request: the voucher its ledger says the request needs. */
    const voucherFor = async (endpoint: CompletionEndpoint, body: unknown) => {
        const bound = requestFeeBound(TERMS, parseDirectRequest(endpoint, body))
        const {nonce, cumulative, receiptsRoot} = ledger.reserve(bound)
        const voucher = await signVoucher({
            wallet: owner.wallet,
            escrow: net.devnet.processes.escrow,
            channel: channel.id,
            cumulative,
            nonce,
            receiptsRoot
        })
        return {voucher, bound}
    }

    const post = (endpoint: CompletionEndpoint, body: unknown, voucher?: SignedVoucher | string) =>
        fetch(`${BASE}/${endpoint === "chat" ? "chat/completions" : "completions"}`, {
            method: "POST",
            headers: {
                "Content-Type": "application/json",
                ...(voucher == null ? {} : {[VOUCHER_HEADER]: typeof voucher === "string" ? voucher : encodeVoucherHeader(voucher)})
            },
            body: typeof body === "string" ? body : JSON.stringify(body)
        })

    /** A paid request through the owner's ledger, as the proxy makes them. */
    const ask = async (endpoint: CompletionEndpoint, body: Record<string, unknown>) => {
        const {voucher, bound} = await voucherFor(endpoint, body)
        const response = await post(endpoint, body, voucher)
        return {response, voucher, bound, prompt: parseDirectRequest(endpoint, body).prompt}
    }

    const record = (answer: Omit<Answered, "fee"> & {fee: string}) => {
        ledger.complete(answer.voucher.fields.nonce, {fee: BigInt(answer.fee), receiptHash: answer.receiptHash})
        answered.push({...answer, fee: BigInt(answer.fee)})
    }

    const readEvents = async (response: Response): Promise<SseEvent[]> => {
        const events: SseEvent[] = []
        for await (const {type, data} of readEventStream(response.body!)) {
            // OpenAI's clients read only unnamed events.
            expect(type).toBe("message")
            events.push(data === "[DONE]" ? {data} : {data, json: JSON.parse(data)})
        }
        return events
    }

    const receiptOf = async (hash: string) => {
        const response = await fetch(`${BASE}/receipts/${hash}`)
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toBe("application/json")
        const bytes = new Uint8Array(await response.arrayBuffer())
        expect(hashReceiptBytes(bytes)).toBe(hash)
        return {bytes, receipt: decodeReceipt(bytes)}
    }

    beforeAll(async () => {
        net = await startTestDevnet(DEVNET_PORT)
        model = await publishTestModel(net, {name: "tiny", ownerFee: TERMS.ownerFeeBps})
        workerWallet = (await fundedActor(net, "worker", "5000")).walletFile
        owner = await fundedActor(net, "owner", "1000000")
        cacheDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-http-worker-"))
        worker = await startWorker()
        const {processes} = net.devnet
        channel = await new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token}).open({
            worker: worker.address,
            quantity: DEPOSIT,
            model: model.modelId
        })
        ledger = new ChannelLedger({channel: channel.id, deposited: channel.deposited, paid: channel.paid, nonce: channel.nonce})
    }, 400_000)
    afterAll(async () => {
        await worker?.kill("SIGKILL")
        await net?.dispose()
    })

    it("lists the models it serves", async () => {
        const response = await fetch(`${BASE}/models`)
        expect(response.status).toBe(200)
        const list = (await response.json()) as {object: string; data: Array<{id: string; object: string; weavelm: {modelId: string}}>}
        expect(list.object).toBe("list")
        expect(list.data).toEqual([
            expect.objectContaining({id: "tiny", object: "model", weavelm: expect.objectContaining({modelId: model.modelId})})
        ])
    })

    it("answers a chat completion with the fee, the owed total and a receipt that matches", async () => {
        const messages = [
            {role: "system", content: "You are terse."},
            {role: "user", content: "The quick brown fox"}
        ]
        const {response, voucher, bound, prompt} = await ask("chat", {model: "tiny", messages, max_tokens: 12, temperature: 0})
        expect(response.status).toBe(200)
        const body = (await response.json()) as any
        expect(body).toMatchObject({object: "chat.completion", model: "tiny", choices: [{index: 0, message: {role: "assistant"}}]})
        const {weavelm, usage} = body
        expect(weavelm).toMatchObject({channel: channel.id, nonce: voucher.fields.nonce})
        expect(response.headers.get("x-weavelm-fee")).toBe(weavelm.fee)
        expect(response.headers.get("x-weavelm-receipt-hash")).toBe(weavelm.receiptHash)
        expect(BigInt(weavelm.fee)).toBe(requestFee(TERMS, {inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens}))
        expect(BigInt(weavelm.fee)).toBeLessThanOrEqual(bound)
        expect(weavelm.cumulativeOwed).toBe(weavelm.fee)

        const {receipt} = await receiptOf(weavelm.receiptHash)
        expect(receipt).toMatchObject({
            taskId: voucher.id,
            worker: worker.address,
            output: body.choices[0].message.content,
            model: {id: model.modelId, sha256: model.sha256},
            prompt: {format: "chat", sha256: hashPrompt(prompt)},
            sampling: {maxTokens: 12, temperature: "0", topK: 40, topP: "1"}
        })
        expect(receipt.inputTokens).toHaveLength(usage.prompt_tokens)
        expect(receipt.outputTokens).toHaveLength(usage.completion_tokens)
        record({voucher, bound, fee: weavelm.fee, receiptHash: weavelm.receiptHash, output: receipt.output, prompt})
    })

    it("answers a text completion", async () => {
        const {response, voucher, bound, prompt} = await ask("completions", {
            model: model.modelId,
            prompt: "Once upon a time",
            max_tokens: 8,
            temperature: 0.8,
            seed: 11
        })
        expect(response.status).toBe(200)
        const body = (await response.json()) as any
        expect(body).toMatchObject({
            object: "text_completion",
            model: "tiny",
            choices: [{index: 0, finish_reason: expect.stringMatching(/^(stop|length)$/)}]
        })
        const {receipt} = await receiptOf(body.weavelm.receiptHash)
        expect(receipt).toMatchObject({
            output: body.choices[0].text,
            prompt: {format: "text", sha256: hashPrompt("Once upon a time")},
            sampling: {maxTokens: 8, temperature: "0.8", seed: 11}
        })
        expect(BigInt(body.weavelm.cumulativeOwed)).toBe(answered[0]!.fee + BigInt(body.weavelm.fee))
        record({voucher, bound, fee: body.weavelm.fee, receiptHash: body.weavelm.receiptHash, output: receipt.output, prompt})
    })

    it("streams a chat completion token by token, ending in a usage chunk and [DONE]", async () => {
        const {response, voucher, bound, prompt} = await ask("chat", {
            model: "tiny",
            messages: [{role: "user", content: "Tell a story"}],
            max_tokens: 16,
            temperature: 0,
            stream: true
        })
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toBe("text/event-stream")
        const events = await readEvents(response)
        expect(events.at(-1)!.data).toBe("[DONE]")
        const chunks = events.slice(0, -1).map((e) => e.json)
        expect(chunks[0]).toMatchObject({object: "chat.completion.chunk", choices: [{delta: {role: "assistant"}}]})
        const usageChunk = chunks.at(-1)
        expect(usageChunk.choices).toEqual([])
        expect(usageChunk.usage.total_tokens).toBe(usageChunk.usage.prompt_tokens + usageChunk.usage.completion_tokens)
        expect(chunks.at(-2).choices[0].finish_reason).toMatch(/^(stop|length)$/)
        const text = chunks
            .slice(0, -1)
            .map((c) => c.choices[0].delta.content ?? "")
            .join("")
        const {weavelm} = usageChunk
        const {receipt} = await receiptOf(weavelm.receiptHash)
        expect(text).toBe(receipt.output)
        expect(chunks.filter((c) => (c.choices[0]?.delta?.content ?? "") !== "").length).toBeGreaterThan(1)
        expect(receipt.outputTokens).toHaveLength(usageChunk.usage.completion_tokens)
        record({voucher, bound, fee: weavelm.fee, receiptHash: weavelm.receiptHash, output: receipt.output, prompt})
    })

    it("streams a text completion", async () => {
        const {response, voucher, bound, prompt} = await ask("completions", {
            model: "tiny",
            prompt: "The weather",
            max_tokens: 10,
            temperature: 0,
            stream: true
        })
        const events = await readEvents(response)
        expect(events.at(-1)!.data).toBe("[DONE]")
        const chunks = events.slice(0, -1).map((e) => e.json)
        expect(chunks.every((c) => c.object === "text_completion")).toBe(true)
        const {weavelm} = chunks.at(-1)
        const {receipt} = await receiptOf(weavelm.receiptHash)
        expect(
            chunks
                .slice(0, -1)
                .map((c) => c.choices[0].text)
                .join("")
        ).toBe(receipt.output)
        record({voucher, bound, fee: weavelm.fee, receiptHash: weavelm.receiptHash, output: receipt.output, prompt})
    })

    it("refuses malformed input, unknown models and bad vouchers before generating", async () => {
        const body = {model: "tiny", prompt: "Hi", max_tokens: 4}
        const error = async (response: Response, status: number, code: string) => {
            expect(response.status).toBe(status)
            const json = (await response.json()) as {error: {message: string; type: string; code: string; required?: string}}
            expect(json.error.code).toBe(code)
            expect(json.error.message.length).toBeGreaterThan(0)
            return json.error
        }
        await error(await post("completions", "{not json"), 400, "invalid_json")
        expect((await error(await post("chat", {model: "tiny"}), 400, "invalid_request")).message).toMatch(/messages/)
        await error(await post("completions", {...body, model: "no-such-model"}), 404, "model_not_found")
        await error(await post("completions", body), 400, "missing_voucher")

        const {voucher} = await voucherFor("completions", body)
        ledger.release(voucher.fields.nonce)
        const raw = Buffer.from(voucher.raw)
        raw[10] = raw[10]! ^ 0xff
        expect((await error(await post("completions", body, raw.toString("base64url")), 400, "invalid_voucher")).message).toMatch(
            /signature/
        )

        // Replaying an answered request's voucher: its nonce is spent.
        expect((await error(await post("completions", body, answered.at(-1)!.voucher), 400, "stale_nonce")).message).toMatch(
            /Stale voucher/
        )

        const bound = requestFeeBound(TERMS, parseDirectRequest("completions", body))
        const required = ledger.required(bound)
        const sign = (cumulative: bigint) =>
            signVoucher({
                wallet: owner.wallet,
                escrow: net.devnet.processes.escrow,
                channel: channel.id,
                cumulative,
                nonce: ledger.nonce + 1,
                receiptsRoot: ledger.receiptsRoot()
            })
        const short = await error(await post("completions", body, await sign(required - 1n)), 402, "insufficient_voucher")
        expect(short.required).toBe(required.toString())
        expect(short.type).toBe("payment_required_error")
        expect((await error(await post("completions", body, await sign(BigInt(DEPOSIT) + 1n)), 402, "channel_exhausted")).message).toMatch(
            /over-spends the channel/
        )
        const stranger = await signVoucher({
            wallet: (await fundedActor(net, "stranger", "1")).wallet,
            escrow: net.devnet.processes.escrow,
            channel: channel.id,
            cumulative: required,
            nonce: ledger.nonce + 1,
            receiptsRoot: ledger.receiptsRoot()
        })
        await error(await post("completions", body, stranger), 400, "wrong_signer")
    })

    it("answers 429 with rate-limit headers while at capacity", async () => {
        const body = {model: "tiny", prompt: "Slowly", max_tokens: 4, temperature: 0}
        const {voucher, bound} = await voucherFor("completions", body)
        // The first request holds the only slot while its body is still arriving.
        let send!: ReadableStreamDefaultController<Uint8Array>
        const slow = new ReadableStream<Uint8Array>({start: (controller) => void (send = controller)})
        send.enqueue(new TextEncoder().encode(JSON.stringify(body).slice(0, 5)))
        const first = fetch(`${BASE}/completions`, {
            method: "POST",
            body: slow,
            duplex: "half",
            headers: {"Content-Type": "application/json", [VOUCHER_HEADER]: encodeVoucherHeader(voucher)}
        } as RequestInit)
        let refused: Response | undefined
        for (const deadline = Date.now() + 20_000; refused == null && Date.now() < deadline; ) {
            await new Promise((resolve) => setTimeout(resolve, 200))
            // An empty body: should it slip in before the first took the slot, it is only a 400.
            const response = await post("completions", {})
            if (response.status === 429) refused = response
            else expect(response.status).toBe(400)
        }
        expect(refused?.status).toBe(429)
        expect(refused!.headers.get("retry-after")).toBe("1")
        expect(refused!.headers.get("x-ratelimit-limit")).toBe("1")
        expect(refused!.headers.get("x-ratelimit-remaining")).toBe("0")
        expect(((await refused!.json()) as {error: {code: string}}).error.code).toBe("capacity_exceeded")

        send.enqueue(new TextEncoder().encode(JSON.stringify(body).slice(5)))
        send.close()
        const answer = await first
        expect(answer.status).toBe(200)
        const {weavelm} = (await answer.json()) as any
        const {receipt} = await receiptOf(weavelm.receiptHash)
        record({voucher, bound, fee: weavelm.fee, receiptHash: weavelm.receiptHash, output: receipt.output, prompt: "Slowly"})
    })

    it("issues receipts that pass the verifier", async () => {
        const {bytes, receipt} = await receiptOf(answered[0]!.receiptHash)
        const engine = await InferenceEngine.create({gpu: "cpu", threads: 1})
        try {
            const loaded = await engine.loadModel(path.join(net.dataDir, "models", "tiny.gguf"), verifierModelOptions(receipt))
            const report = await verifyReceipt({
                receipt,
                receiptBytes: bytes,
                model: loaded,
                expected: {
                    taskId: answered[0]!.voucher.id,
                    modelSha256: model.sha256,
                    prompt: answered[0]!.prompt,
                    format: "chat",
                    receiptHash: answered[0]!.receiptHash
                }
            })
            expect(report.reasons).toEqual([])
            expect(report.verdict).toBe("valid")
        } finally {
            await engine.dispose()
        }
    })

    it("settles a channel as soon as its owner starts closing it", async () => {
        const {processes} = net.devnet
        const channels = new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token})
        const body = {model: "tiny", prompt: "Closing time", max_tokens: 4, temperature: 0}
        const bound = requestFeeBound(TERMS, parseDirectRequest("completions", body))
        // A channel that names no model cannot split a redemption with tiny's owner: refused before any work.
        const modelless = await channels.open({worker: worker.address, quantity: "5000"})
        const unpaid = new ChannelLedger({channel: modelless.id, deposited: modelless.deposited}).reserve(bound)
        const refused = await post(
            "completions",
            body,
            await signVoucher({wallet: owner.wallet, escrow: processes.escrow, channel: modelless.id, ...unpaid})
        )
        expect(refused.status).toBe(400)
        expect(((await refused.json()) as {error: {code: string}}).error.code).toBe("wrong_model")

        const second = await channels.open({worker: worker.address, quantity: "5000", model: model.modelId})
        const secondLedger = new ChannelLedger({channel: second.id, deposited: second.deposited})
        const {nonce, cumulative, receiptsRoot} = secondLedger.reserve(bound)
        const voucher = await signVoucher({
            wallet: owner.wallet,
            escrow: processes.escrow,
            channel: second.id,
            cumulative,
            nonce,
            receiptsRoot
        })
        expect((await post("completions", body, voucher)).status).toBe(200)
        expect(worker.events.some((e) => e.event === "channel.settled")).toBe(false)

        await channels.close(second.id)
        expect((await settlementOf(second.id)).message).toMatch(/\(closing\)/)
        expect(await channels.channel(second.id)).toMatchObject({state: "Closing", paid: cumulative.toString(), redemptions: 1})
        closingWorkerShare = cumulative - (cumulative * 1000n) / 11000n
    })

    it("after a crash, redeems what the crashed run was owed: one Receipt-Batch and one Redeem-Voucher pay worker and model owner", async () => {
        const {processes, network} = net.devnet
        const ownerBefore = BigInt((await net.connection.ao.read(processes.escrow, {Action: "Balance"})).tags.Balance ?? "0")
        await worker.kill("SIGKILL")
        worker = await startWorker()
        const settled = await settlementOf(channel.id)
        expect(settled.message).toMatch(/\(restart\)/)
        const latest = answered.at(-1)!
        // The latest voucher pays every earlier fee and the last request's bound (the contract's amount rule).
        const fees = answered.reduce((sum, a) => sum + a.fee, 0n)
        const paid = fees - latest.fee + latest.bound
        expect(BigInt(latest.voucher.fields.cumulative)).toBe(paid)
        expect(settled.amount).toBe(paid.toString())

        const channels = new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token})
        expect(await channels.channel(channel.id)).toMatchObject({
            paid: paid.toString(),
            redemptions: 1,
            nonce: latest.voucher.fields.nonce,
            receiptsRoot: latest.voucher.fields.receiptsRoot
        })
        firstPaid = paid
        const ownerShare = (paid * 1000n) / 11000n
        expect(BigInt((await owner.ao.read(processes.escrow, {Action: "Balance", Recipient: worker.address})).tags.Balance!)).toBe(
            paid - ownerShare + closingWorkerShare
        )
        expect(BigInt((await net.connection.ao.read(processes.escrow, {Action: "Balance"})).tags.Balance!) - ownerBefore).toBe(ownerShare)

        const batchTx = String(settled.batchTx)
        const batch = (await (await fetch(`${network.gateway}/${batchTx}`)).json()) as {channel: string; receipts: string[]}
        expect(batch.channel).toBe(channel.id)
        expect(batch.receipts.map((r) => hashReceiptBytes(Buffer.from(r, "base64")))).toEqual(answered.map((a) => a.receiptHash))
        expect(batch.receipts.map((r) => decodeReceipt(Buffer.from(r, "base64")).output)).toEqual(answered.map((a) => a.output))
        const query = `{ transactions(ids: ["${batchTx}"]) { edges { node { tags { name value } } } } }`
        const graph = (await (
            await fetch(`${network.gateway}/graphql`, {
                method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({query})
            })
        ).json()) as any
        const tags = Object.fromEntries(
            graph.data.transactions.edges[0].node.tags.map((t: {name: string; value: string}) => [t.name, t.value])
        )
        expect(tags).toMatchObject({
            Type: "Receipt-Batch",
            Channel: channel.id,
            Worker: worker.address,
            "Receipts-Root": latest.voucher.fields.receiptsRoot,
            "Content-Type": "application/json"
        })

        // The restarted worker remembers the nonces it accepted: an answered request's voucher stays spent.
        const replay = await post("completions", {model: "tiny", prompt: "again", max_tokens: 4}, answered[1]!.voucher)
        expect(replay.status).toBe(400)
        expect(((await replay.json()) as {error: {code: string}}).error.code).toBe("stale_nonce")
    })

    it("settles on stop what it was owed since", async () => {
        const {processes, network} = net.devnet
        const body = {model: "tiny", messages: [{role: "user", content: "One more"}], max_tokens: 6, temperature: 0}
        // The redemption paid the last request's bound, more than its fee: the worker counts that as owed, and says so.
        const short = await ask("chat", body)
        expect(short.response.status).toBe(402)
        const {error} = (await short.response.json()) as {error: {code: string; required: string}}
        expect(error.code).toBe("insufficient_voucher")
        expect(BigInt(error.required)).toBe(firstPaid + short.bound)
        ledger.release(short.voucher.fields.nonce)
        ledger.acknowledgeOwed(BigInt(error.required) - short.bound - ledger.inFlight)

        const {response, voucher, bound, prompt} = await ask("chat", body)
        expect(response.status).toBe(200)
        const {weavelm} = (await response.json()) as any
        expect(BigInt(voucher.fields.cumulative)).toBe(firstPaid + bound)
        // That credit pays for this request: what the channel owes stays what it paid until the fees catch up.
        const fees = answered.reduce((sum, a) => sum + a.fee, 0n) + BigInt(weavelm.fee)
        expect(BigInt(weavelm.cumulativeOwed)).toBe(fees > firstPaid ? fees : firstPaid)
        record({voucher, bound, fee: weavelm.fee, receiptHash: weavelm.receiptHash, output: "", prompt})

        const seen = worker.events.length
        expect(await worker.kill("SIGTERM")).toBe(0)
        const settled = worker.events.slice(seen).filter((e) => e.event === "channel.settled" && e.channel === channel.id)
        expect(settled).toHaveLength(1)
        expect(settled[0]!.message).toMatch(/\(stop\)/)
        expect(settled[0]!.amount).toBe(bound.toString())
        const channels = new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token})
        expect(await channels.channel(channel.id)).toMatchObject({
            paid: voucher.fields.cumulative,
            redemptions: 2,
            nonce: voucher.fields.nonce
        })
        const batch = (await (await fetch(`${network.gateway}/${String(settled[0]!.batchTx)}`)).json()) as {receipts: string[]}
        expect(batch.receipts.map((r) => hashReceiptBytes(Buffer.from(r, "base64")))).toEqual([weavelm.receiptHash])
    })
})
