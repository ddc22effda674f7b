import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import OpenAI from "openai"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {ChannelClient, requestFeeBound, type ChannelRecord} from "../../sdk/channel/index.ts"
import {DirectClient} from "../../sdk/direct/index.ts"
import {EscrowClient} from "../../sdk/escrow/index.ts"
import type {NetworkConnection} from "../../sdk/network/index.ts"
import {hashReceiptBytes} from "../../sdk/receipt/index.ts"
import {runCli, startCli, type RunningCli} from "../harness/cli.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const PORT = 4880
const HTTP_PORTS = {a: 4886, b: 4887}
const PROXY_PORTS = {main: 4888, thousand: 4889, failover: 4890}
// Short enough to wait out, long enough for the worker to redeem after the Channel-Closing notice.
const REFUND_LOCK = 20_000
// Each request costs 1 base unit at these prices; the threshold makes the 1000th voucher the first one a worker redeems.
const SETTLE_THRESHOLD = "1000"

interface Weavelm {
    channel: string
    nonce: number
    fee: string
    cumulativeOwed: string
    receiptHash: string
}
const weavelmOf = (body: unknown) => (body as {weavelm: Weavelm}).weavelm

describe("weavelm proxy: OpenAI clients paying workers through channels", {timeout: 600_000}, () => {
    let net: TestDevnet
    let requester: NetworkConnection & {walletFile: string}
    let channels: ChannelClient
    const workers: Record<string, WorkerProcess> = {}
    const workerArgs: Record<string, string[]> = {}
    const proxies: Array<RunningCli<{listening: boolean; url: string}>> = []

    const startWorker = async (name: "a" | "b") => {
        const worker = await startWorkerCli(workerArgs[name]!)
        await waitFor(() => worker.events.some((e) => e.event === "http.ready"), 60_000, `worker ${name}'s HTTP endpoint`)
        workers[name] = worker
        return worker
    }
    const startProxy = async (port: number, args: string[] = []) => {
        const proxy = await startCli<{listening: boolean; url: string}>([
            "proxy",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            requester.walletFile,
            "--port",
            String(port),
            ...args
        ])
        proxies.push(proxy)
        return {proxy, openai: new OpenAI({baseURL: proxy.ready.url, apiKey: "unused", maxRetries: 0})}
    }
    const channel = async (id: string) => (await channels.channel(id))!

    beforeAll(async () => {
        net = await startTestDevnet(PORT, {parameters: {escrow: {"Channel-Refund-Lock": String(REFUND_LOCK)}}})
        await publishTestModel(net, {name: "tiny"})
        requester = await fundedActor(net, "requester", "100000000")
        channels = new ChannelClient(requester.ao, {escrow: net.devnet.processes.escrow, token: net.devnet.processes.token})
        // Worker a is cheaper, so `auto` ranks it first; b is where it fails over to.
        for (const [name, price] of [
            ["a", "1"],
            ["b", "2"]
        ] as const) {
            const wallet = await fundedActor(net, `worker-${name}`, "3000")
            workerArgs[name] = [
                "--network",
                net.devnet.networkFile,
                "--wallet",
                wallet.walletFile,
                "--models",
                "tiny",
                "--gpu",
                "cpu",
                "--threads",
                "1",
                "--cache-dir",
                await mkdtemp(path.join(os.tmpdir(), `weavelm-direct-${name}-`)),
                "--stake",
                "1000",
                "--concurrency",
                "2",
                "--price-input",
                price,
                "--price-output",
                price,
                "--http",
                String(HTTP_PORTS[name]),
                "--settle-threshold",
                SETTLE_THRESHOLD,
                "--settle-interval",
                "3600"
            ]
        }
        await Promise.all([startWorker("a"), startWorker("b")])
    })
    afterAll(async () => {
        await Promise.all(proxies.map((p) => p.stop()))
        await Promise.all(Object.values(workers).map((w) => w.kill("SIGKILL")))
        await net?.dispose()
    })

    it("answers the openai client, chat and completions, streamed and not, with receipts the worker serves", async () => {
        const {openai} = await startProxy(PROXY_PORTS.main, ["--model", "tiny"])
        expect((await openai.models.list()).data.map((m) => m.id)).toEqual(["tiny"])

        // The model an application asks for does not matter: the proxy serves --model.
        const chat = await openai.chat.completions.create({
            model: "gpt-4o-mini",
            messages: [{role: "user", content: "The quick brown fox"}],
            max_tokens: 6
        })
        expect(chat.choices[0]!.message.content!.length).toBeGreaterThan(0)
        expect(chat.usage!.completion_tokens).toBeLessThanOrEqual(6)
        const text = await openai.completions.create({model: "tiny", prompt: "Once upon a time", max_tokens: 6, temperature: 0})
        expect(text.choices[0]!.text.length).toBeGreaterThan(0)

        const streamedChat = await collect(
            await openai.chat.completions.create({
                model: "tiny",
                messages: [{role: "user", content: "Tell me a story"}],
                max_tokens: 8,
                stream: true
            })
        )
        expect(streamedChat.chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("").length).toBeGreaterThan(0)
        const streamedText = await collect(
            await openai.completions.create({model: "tiny", prompt: "The river", max_tokens: 8, temperature: 0, stream: true})
        )
        // Greedy decoding: the stream says what the same request said unstreamed.
        const unstreamed = await openai.completions.create({model: "tiny", prompt: "The river", max_tokens: 8, temperature: 0})
        expect(streamedText.chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(unstreamed.choices[0]!.text)

        const settlements = [chat, text, streamedChat.last, streamedText.last, unstreamed].map(weavelmOf)
        expect(new Set(settlements.map((s) => s.channel)).size).toBe(1)
        expect(settlements.map((s) => s.nonce)).toEqual([1, 2, 3, 4, 5])
        const record = await channel(settlements[0]!.channel)
        expect(record).toMatchObject({owner: requester.address, worker: workers.a!.address, state: "Open"})
        // What the worker says it is owed is exactly the fees it reported.
        const fees = settlements.reduce((sum, s) => sum + BigInt(s.fee), 0n)
        expect(BigInt(settlements[4]!.cumulativeOwed)).toBe(fees)

        const receipt = await fetch(`http://127.0.0.1:${HTTP_PORTS.a}/v1/receipts/${settlements[0]!.receiptHash}`)
        expect(hashReceiptBytes(new Uint8Array(await receipt.arrayBuffer()))).toBe(settlements[0]!.receiptHash)

        // Errors come back in OpenAI's shape, which the client turns into its error classes.
        await expect(openai.chat.completions.create({model: "tiny", messages: [], max_tokens: 4})).rejects.toMatchObject({status: 400})

        const unknown = await runCli([
            "proxy",
            "--model",
            "no-such-model",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            requester.walletFile,
            "--port",
            "0"
        ])
        expect(unknown.code).toBe(1)
        expect(unknown.stderr).toMatch(/^error: No model "no-such-model" in the registry\n$/)
    })

    it("settles 1000 requests with one Redeem-Voucher message", async () => {
        const {openai} = await startProxy(PROXY_PORTS.thousand, ["--model", "tiny", "--budget", "2000"])
        const reported: Weavelm[] = []
        for (let i = 0; i < 1000; i++) {
            const completion = await openai.completions.create({model: "tiny", prompt: `Request ${i}`, max_tokens: 1})
            reported.push(weavelmOf(completion))
        }
        const id = reported[0]!.channel
        expect(reported.every((r) => r.channel === id)).toBe(true)
        const fees = reported.reduce((sum, r) => sum + BigInt(r.fee), 0n)
        expect(fees).toBe(1000n)

        const settled = await waitFor(
            async () => {
                const record = await channel(id)
                return record.redemptions > 0 ? record : null
            },
            120_000,
            "the worker's redemption"
        )
        expect(settled).toMatchObject({redemptions: 1, paid: fees.toString(), nonce: 1000, deposited: "2000"})
        expect(await redeemVoucherMessages(net, id)).toBe(1)
    })

    it("costs at most the request in flight when a worker stops mid-stream, and auto moves on to the next worker", async () => {
        const {openai} = await startProxy(PROXY_PORTS.failover, ["--model", "tiny"])
        // A prompt whose greedy answer runs to max_tokens, so that the stream below is long enough to be cut.
        const maxTokens = 480
        const servedOnA: Weavelm[] = []
        let prompt = ""
        for (const candidate of ["A very long story about", "Once upon a time", "The river ran past the old mill and", "Tell me"]) {
            const probe = await openai.completions.create({model: "tiny", prompt: candidate, max_tokens: maxTokens, temperature: 0})
            servedOnA.push(weavelmOf(probe))
            if (probe.choices[0]!.finish_reason === "length") {
                prompt = candidate
                break
            }
        }
        expect(prompt).not.toBe("")
        const onA = servedOnA[0]!.channel
        expect((await channel(onA)).worker).toBe(workers.a!.address)

        const stream = await openai.completions.create({model: "tiny", prompt, max_tokens: maxTokens, temperature: 0, stream: true})
        let chunks = 0
        const dropped = (async () => {
            for await (const _chunk of stream) {
                if (++chunks === 1) void workers.a!.kill("SIGKILL")
            }
        })()
        await expect(dropped).rejects.toThrow(/stopped in the middle/)
        expect(chunks).toBeGreaterThan(0)

        const next = weavelmOf(await openai.completions.create({model: "tiny", prompt: "After the fall", max_tokens: 4}))
        expect((await channel(next.channel)).worker).toBe(workers.b!.address)

        // The dead worker comes back and redeems the best voucher it holds: one for an answer it completed.
        await startWorker("a")
        const settled = await waitFor(
            async () => {
                const record = await channel(onA)
                return record.redemptions > 0 ? record : null
            },
            120_000,
            "worker a's redemption after its restart"
        )
        const served = servedOnA.reduce((sum, w) => sum + BigInt(w.fee), 0n)
        const bound = requestFeeBound({priceInput: "1", priceOutput: "1", ownerFeeBps: 0}, {prompt, maxTokens})
        expect(BigInt(settled.paid)).toBeLessThanOrEqual(served + bound)
    })

    it("returns a closed channel's remainder only once the refund lock has passed", async () => {
        const client = await DirectClient.create({
            connection: requester,
            processes: net.devnet.processes,
            model: "tiny",
            worker: workers.b!.address,
            budget: "2"
        })
        const fees: bigint[] = []
        let id = ""
        // Three requests of bound 1 each on a budget of 2: the third needs a top-up.
        for (const prompt of ["One", "Two", "Three"]) {
            const weavelm =
                prompt === "Two"
                    ? (await collect(client.stream("completions", {prompt, max_tokens: 1}))).last.weavelm!
                    : weavelmOf(await client.complete("completions", {prompt, max_tokens: 1}))
            fees.push(BigInt(weavelm.fee))
            id = weavelm.channel
        }
        expect((await channel(id)).deposited).toBe("4")

        const escrow = new EscrowClient(requester.ao, net.devnet.processes)
        const before = BigInt((await escrow.balance()).available)
        const [closing] = await client.close()
        expect(closing!.channel).toBe(id)
        expect(closing!.closesAt).toBeGreaterThan(Date.now())
        // Any message runs the escrow's upkeep; before the lock ends it returns nothing.
        await escrow.settle()
        expect((await channel(id)).state).toBe("Closing")
        expect(BigInt((await escrow.balance()).available)).toBe(before)

        // The worker redeems on the Channel-Closing notice, within the lock.
        const redeemed = await waitFor(
            async () => {
                const record = await channel(id)
                return record.redemptions > 0 ? record : null
            },
            REFUND_LOCK,
            "worker b's redemption on Channel-Closing"
        )
        await sleep(Math.max(0, closing!.closesAt - Date.now()) + 500)
        await escrow.settle()
        const closed: ChannelRecord = await channel(id)
        expect(closed.state).toBe("Closed")
        expect(closed.paid).toBe(redeemed.paid)
        expect(BigInt(closed.paid)).toBeLessThanOrEqual(fees.reduce((a, b) => a + b, 0n) + 1n)
        expect(BigInt((await escrow.balance()).available) - before).toBe(4n - BigInt(closed.paid))

        const listed = await runCli([
            "channel",
            "list",
            "--json",
            "--state",
            "Closed",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            requester.walletFile
        ])
        expect(listed.code).toBe(0)
        expect((JSON.parse(listed.stdout) as ChannelRecord[]).map((c) => c.id)).toContain(id)
    })
})

async function collect<T>(stream: AsyncIterable<T>): Promise<{chunks: T[]; last: T}> {
    const chunks: T[] = []
    for await (const chunk of stream) chunks.push(chunk)
    return {chunks, last: chunks[chunks.length - 1]!}
}

/** The Redeem-Voucher messages for a channel that reached the escrow, as the gateway indexes them. */
async function redeemVoucherMessages(net: TestDevnet, channel: string): Promise<number> {
    const query = `query { transactions(first: 100, recipients: ["${net.devnet.processes.escrow}"], tags: [
        {name: "Action", values: ["Redeem-Voucher"]}, {name: "Channel", values: ["${channel}"]}]) { edges { node { id } } } }`
    const response = await fetch(`${net.devnet.network.gateway}/graphql`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({query})
    })
    const body = (await response.json()) as {data: {transactions: {edges: unknown[]}}}
    return body.data.transactions.edges.length
}

async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
        const value = await check()
        if (value != null && value !== false) return value as NonNullable<T>
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
        await sleep(250)
    }
}

function sleep(ms: number) {
    return new Promise((resolve) => setTimeout(resolve, ms))
}
