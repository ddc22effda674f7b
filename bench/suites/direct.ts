import {spawn, type ChildProcess} from "node:child_process"
import {mkdtemp, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {fileURLToPath} from "node:url"
import {getLlama, LlamaLogLevel, type LlamaContextSequence, type LlamaModel} from "node-llama-cpp"
import {Devnet} from "../../devnet/index.ts"
import {
    ChannelClient,
    ChannelLedger,
    encodeVoucherHeader,
    parseDirectRequest,
    requestFeeBound,
    signVoucher,
    VOUCHER_HEADER
} from "../../sdk/channel/index.ts"
import {connectNetwork, type NetworkConnection, type ProcessIds} from "../../sdk/network/index.ts"
import {RegistryClient} from "../../sdk/registry/index.ts"
import {readEventStream} from "../../sdk/sse/index.ts"
import {TokenClient} from "../../sdk/token/index.ts"
import {generateWallet, writeWallet} from "../../sdk/wallet/index.ts"
import {benchModel, publishBenchModel} from "../benchModel.ts"
import type {BenchRow, BenchSuite} from "../types.ts"

const PORT = 4900
const WORKER_HTTP_PORT = 4906
const PROXY_PORT = 4907
const PROMPT = "The river ran past the old mill and"
const MAX_TOKENS = 64
const ROUNDS = 20
/** Between runs, as a client reading an answer would pause; the proxy signs the next voucher meanwhile. */
const PAUSE_MS = 250
const SETTLED_REQUESTS = 1000
const STREAMED_REQUEST = {model: "bench-125m", prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, stream: true}
const weavelmBin = fileURLToPath(new URL("../../scripts/weavelm.mjs", import.meta.url))

interface Run {
    /** From the call to the first generated text. */
    ttftMs: number
    /** From the call to the last generated text. */
    lastTokenMs: number
    tokens: number
}

/**
 * Direct mode's cost to a user: streamed greedy generation straight through
 * node-llama-cpp against the same request through `weavelm proxy` on loopback
 * to `weavelm worker start --http` (both child processes, as a user runs them)
 * on the devnet, in interleaved rounds; every side decodes on 1 CPU thread. A
 * third contender sends to the worker's endpoint directly with a voucher signed
 * before its clock starts, which splits the added time between worker and
 * proxy. Then 1000 one-token requests on one channel, closed, and the AO
 * messages that settled them.
 */
export const suite: BenchSuite = {
    name: "direct",
    description: `125m q8_0, ${MAX_TOKENS} greedy tokens, 1 thread: raw node-llama-cpp streaming vs weavelm proxy -> worker HTTP; settlement messages`,
    async run({workDir, log}) {
        const file = await benchModel(workDir, log)
        const dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-bench-direct-"))
        const devnet = await Devnet.start({port: PORT, dataDir})
        const children: ChildProcess[] = []
        const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0})
        try {
            const dev = await publishBenchModel(devnet, dataDir, file, log)
            const workerWallet = path.join(dataDir, "wallets", "worker.json")
            const workerJwk = await generateWallet()
            await writeWallet(workerWallet, workerJwk)
            await new TokenClient(dev.ao, devnet.processes.token).transfer(connectNetwork(devnet.network, workerJwk).address, "1000")

            log("starting the worker and the proxy")
            const network = ["--network", devnet.networkFile]
            children.push(
                (
                    await startWeavelm(
                        [
                            "worker",
                            "start",
                            "--json",
                            ...network,
                            "--wallet",
                            workerWallet,
                            "--models",
                            "bench-125m",
                            "--gpu",
                            "cpu",
                            "--threads",
                            "1",
                            "--concurrency",
                            "1",
                            "--price-input",
                            "1",
                            "--price-output",
                            "1",
                            "--stake",
                            "1000",
                            "--cache-dir",
                            path.join(dataDir, "worker"),
                            "--http",
                            String(WORKER_HTTP_PORT),
                            "--settle-threshold",
                            "1000000000",
                            "--settle-interval",
                            "604800"
                        ],
                        (line) => line.event === "http.ready"
                    )
                ).child
            )
            const proxy = await startWeavelm(
                ["proxy", "--json", ...network, "--port", String(PROXY_PORT), "--model", "bench-125m", "--budget", "10000000"],
                (line) => line.listening === true
            )
            children.push(proxy.child)
            const baseUrl = String(proxy.ready.url)

            const model = await llama.loadModel({modelPath: file})
            const sequence = (await model.createContext({contextSize: 1024, threads: {ideal: 1, min: 1}})).getSequence()
            const worker = await presignedWorkerStream(dev, devnet.processes, connectNetwork(devnet.network, workerJwk).address)
            const contenders: Record<string, () => Promise<Run>> = {
                raw: () => rawStream(model, sequence),
                worker,
                proxy: () => streamFrom(`${baseUrl}/completions`, {})
            }
            log("warming up")
            for (const run of Object.values(contenders)) await run()
            const runs: Record<string, Run[]> = {raw: [], worker: [], proxy: []}
            for (let round = 0; round < ROUNDS; round++) {
                // Rotate who goes first, so a load that drifts during a round weighs on all.
                const names = Object.keys(contenders)
                const order = names.map((_, i) => names[(i + round) % names.length]!)
                for (const name of order) {
                    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS))
                    runs[name]!.push(await contenders[name]!())
                }
                log(
                    `round ${round + 1} of ${ROUNDS}: time to first token ${names.map((n) => `${n} ${runs[n]!.at(-1)!.ttftMs.toFixed(1)} ms`).join(", ")}`
                )
            }

            log(`${SETTLED_REQUESTS} one-token requests on one channel`)
            let channel = ""
            const started = performance.now()
            for (let i = 0; i < SETTLED_REQUESTS; i++) channel = (await proxyCompletion(baseUrl, `Request ${i}`)).channel
            const requestsPerSecond = SETTLED_REQUESTS / ((performance.now() - started) / 1000)
            const channelRequests = ROUNDS + 1 + SETTLED_REQUESTS
            log("closing the channel and waiting for the worker to settle it")
            const settledBy = await closeAndCountRedemptions(dev, devnet.processes, channel)

            const ttft = (name: string) => median(runs[name]!.map((r) => r.ttftMs))
            // Decoding speed once tokens flow: the time to the first is its own figure.
            const rate = (name: string) => median(runs[name]!.map((r) => (r.tokens - 1) / ((r.lastTokenMs - r.ttftMs) / 1000)))
            const tokens = runs.raw![0]!.tokens
            const note = `${tokens} tokens after "${PROMPT}", median of ${ROUNDS} interleaved rounds`
            const added = ttft("proxy") - ttft("raw")
            const signingMs = await voucherSigningMs(dev, devnet.processes.escrow)
            const ratio = rate("proxy") / rate("raw")
            const perThousand = (settledBy * 1000) / channelRequests
            return [
                {suite: "direct", name: "time to first token: raw", value: ttft("raw"), unit: "ms", note},
                {
                    suite: "direct",
                    name: "time to first token: worker endpoint",
                    value: ttft("worker"),
                    unit: "ms",
                    note: "voucher signed before the clock starts"
                },
                {suite: "direct", name: "time to first token: via proxy", value: ttft("proxy"), unit: "ms", note},
                {
                    suite: "direct",
                    name: "time to first token: added",
                    value: added,
                    unit: "ms",
                    goal: "<= 20 ms",
                    pass: added <= 20,
                    note:
                        `worker ${(ttft("worker") - ttft("raw")).toFixed(1)} ms + proxy ${(ttft("proxy") - ttft("worker")).toFixed(1)} ms; ` +
                        `signing a voucher takes ${signingMs.toFixed(1)} ms here, done ahead while the client reads`
                },
                {suite: "direct", name: "tokens/s: raw", value: rate("raw"), unit: "tok/s", note: "from the first token to the last"},
                {
                    suite: "direct",
                    name: "tokens/s: via proxy",
                    value: rate("proxy"),
                    unit: "tok/s",
                    note: "the worker records log-probabilities and a receipt"
                },
                {suite: "direct", name: "tokens/s: proxy / raw", value: 100 * ratio, unit: "%", goal: ">= 95%", pass: ratio >= 0.95},
                {
                    suite: "direct",
                    name: "one-token requests via proxy",
                    value: requestsPerSecond,
                    unit: "req/s",
                    note: `${SETTLED_REQUESTS} sequential requests, one channel`
                },
                {
                    suite: "direct",
                    name: "AO messages per 1000 requests settled",
                    value: perThousand,
                    unit: "msgs",
                    goal: "1",
                    pass: perThousand <= 1,
                    note: `${settledBy} Redeem-Voucher for ${channelRequests} requests; the channel took 1 Open-Channel transfer and 1 Close-Channel`
                }
            ] satisfies BenchRow[]
        } finally {
            await Promise.all(children.map((child) => stopChild(child)))
            await llama.dispose()
            await devnet.dispose()
            await rm(dataDir, {recursive: true, force: true})
        }
    }
}

/** Streams greedy tokens straight from node-llama-cpp, stopping where the worker would (end of generation or MAX_TOKENS). */
async function rawStream(model: LlamaModel, sequence: LlamaContextSequence): Promise<Run> {
    await sequence.clearHistory()
    const started = performance.now()
    let ttftMs = 0,
        lastTokenMs = 0,
        tokens = 0
    for await (const token of sequence.evaluate(model.tokenize(PROMPT, true), {temperature: 0})) {
        if (model.isEogToken(token)) break
        lastTokenMs = performance.now() - started
        if (tokens === 0) ttftMs = lastTokenMs
        if (++tokens >= MAX_TOKENS) break
    }
    return {ttftMs, lastTokenMs, tokens}
}

/** The request as an OpenAI streaming completion; tokens as the final usage chunk counts them. */
async function streamFrom(
    url: string,
    headers: Record<string, string>,
    onSettled?: (weavelm: {fee: string; receiptHash: string}) => void
): Promise<Run> {
    const started = performance.now()
    const response = await fetch(url, {
        method: "POST",
        headers: {"content-type": "application/json", ...headers},
        body: JSON.stringify(STREAMED_REQUEST)
    })
    if (!response.ok || response.body == null) throw new Error(`The proxy answered HTTP ${response.status}: ${await response.text()}`)
    let ttftMs = 0,
        lastTokenMs = 0,
        tokens = 0
    for await (const {data} of readEventStream(response.body)) {
        if (data === "[DONE]") continue
        const chunk = JSON.parse(data) as {
            choices: Array<{text?: string}>
            usage?: {completion_tokens: number}
            weavelm?: {fee: string; receiptHash: string}
        }
        if ((chunk.choices[0]?.text ?? "") !== "") {
            lastTokenMs = performance.now() - started
            if (ttftMs === 0) ttftMs = lastTokenMs
        }
        if (chunk.usage != null) tokens = chunk.usage.completion_tokens
        if (chunk.weavelm != null) onSettled?.(chunk.weavelm)
    }
    return {ttftMs, lastTokenMs, tokens}
}

/**
 * Streams from the worker's own endpoint on a channel of the bench's, the
 * voucher for each request signed before its clock starts: what the worker
 * adds, without the proxy.
 */
async function presignedWorkerStream(owner: NetworkConnection, processes: ProcessIds, worker: string): Promise<() => Promise<Run>> {
    const channels = new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token})
    const model = (await new RegistryClient(owner.ao, processes.registry).model("bench-125m"))!
    const bound = requestFeeBound(
        {priceInput: "1", priceOutput: "1", ownerFeeBps: model.ownerFee},
        parseDirectRequest("completions", STREAMED_REQUEST)
    )
    const record = await channels.open({worker, quantity: (bound * 1000n).toString(), model: model.id})
    const ledger = new ChannelLedger({channel: record.id, deposited: record.deposited})
    return async () => {
        const {nonce, cumulative, receiptsRoot} = ledger.reserve(bound)
        const voucher = await signVoucher({
            wallet: owner.wallet,
            escrow: processes.escrow,
            channel: record.id,
            cumulative,
            nonce,
            receiptsRoot
        })
        return await streamFrom(
            `http://127.0.0.1:${WORKER_HTTP_PORT}/v1/completions`,
            {[VOUCHER_HEADER]: encodeVoucherHeader(voucher)},
            ({fee, receiptHash}) => ledger.complete(nonce, {fee: BigInt(fee), receiptHash})
        )
    }
}

async function proxyCompletion(baseUrl: string, prompt: string): Promise<{channel: string}> {
    const response = await fetch(`${baseUrl}/completions`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({model: "bench-125m", prompt, max_tokens: 1})
    })
    if (!response.ok) throw new Error(`The proxy answered HTTP ${response.status}: ${await response.text()}`)
    return ((await response.json()) as {weavelm: {channel: string}}).weavelm
}

/** Closes the channel, waits for the worker's redemption, and counts the Redeem-Voucher messages the gateway indexed for it. */
async function closeAndCountRedemptions(
    owner: NetworkConnection,
    processes: {escrow: string; token: string},
    channel: string
): Promise<number> {
    const channels = new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token})
    await channels.close(channel)
    for (const deadline = Date.now() + 180_000; (await channels.channel(channel))?.redemptions === 0; ) {
        if (Date.now() > deadline) throw new Error(`The worker did not redeem channel ${channel}`)
        await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const query = `query { transactions(first: 100, recipients: ["${processes.escrow}"], tags: [
        {name: "Action", values: ["Redeem-Voucher"]}, {name: "Channel", values: ["${channel}"]}]) { edges { node { id } } } }`
    const response = await fetch(`${owner.config.gateway}/graphql`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({query})
    })
    return ((await response.json()) as {data: {transactions: {edges: unknown[]}}}).data.transactions.edges.length
}

/** What signing one voucher costs the proxy, the one cryptographic step it adds before a request leaves. */
async function voucherSigningMs(owner: NetworkConnection, escrow: string): Promise<number> {
    const times: number[] = []
    for (let nonce = 1; nonce <= 20; nonce++) {
        const started = performance.now()
        await signVoucher({wallet: owner.wallet, escrow, channel: escrow, cumulative: String(nonce), nonce, receiptsRoot: "0".repeat(64)})
        times.push(performance.now() - started)
    }
    return median(times)
}

/** Starts a `weavelm` command and resolves with the first JSON line on its stdout that `isReady` accepts. */
function startWeavelm(
    args: string[],
    isReady: (line: Record<string, unknown>) => boolean
): Promise<{child: ChildProcess; ready: Record<string, unknown>}> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [weavelmBin, ...args], {stdio: ["ignore", "pipe", "pipe"]})
        let stdout = "",
            stderr = ""
        child.stderr!.on("data", (chunk) => (stderr += chunk))
        child.stdout!.on("data", (chunk) => {
            stdout += chunk
            let newline: number
            while ((newline = stdout.indexOf("\n")) >= 0) {
                const line = stdout.slice(0, newline)
                stdout = stdout.slice(newline + 1)
                const parsed = JSON.parse(line) as Record<string, unknown>
                if (isReady(parsed)) resolve({child, ready: parsed})
            }
        })
        child.once("exit", (code) => reject(new Error(`weavelm ${args.slice(0, 2).join(" ")} exited with ${code}\n${stderr}`)))
    })
}

function stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode != null || child.signalCode != null) return Promise.resolve()
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    return exited.finally(() => clearTimeout(timer))
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
