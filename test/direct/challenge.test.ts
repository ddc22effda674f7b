import {mkdtemp, writeFile} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {writeTestModel} from "../../model-publisher/index.ts"
import {
    ChannelClient,
    ChannelLedger,
    encodeVoucherHeader,
    parseDirectRequest,
    requestFeeBound,
    signVoucher,
    VOUCHER_HEADER,
    type ChannelRecord
} from "../../sdk/channel/index.ts"
import {WeaveLM} from "../../sdk/client/index.ts"
import {decodeReceipt} from "../../sdk/receipt/index.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {runCli} from "../harness/cli.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {eventually} from "../harness/eventually.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const DEVNET_PORT = 4920
const HTTP_PORT = 4930
const BASE = `http://127.0.0.1:${HTTP_PORT}/v1`
const TERMS = {priceInput: "1000", priceOutput: "2000", ownerFeeBps: 0}
const SLASH = 1000
const BOND = 1000
const REFEREE_FEE = 100

/*
 * A cheating direct-mode worker on the devnet (docs/direct-mode.md, "Disputes"): it serves another
 * model's weights under the registered SHA-256 (as in test/dispute/cheater.test.ts) over HTTP,
 * settles its channel (Receipt-Batch, Redeem-Voucher), and the receipt it served is challenged with
 * `weavelm challenge --receipt`. Two honest workers referee from the batch; the cheater is slashed
 * and the channel's owner gets the request's fee back.
 */
describe("a cheating direct-mode worker", {timeout: 600_000}, () => {
    let net: TestDevnet
    let cheater: WorkerProcess
    let honest: WorkerProcess[]
    let owner: Awaited<ReturnType<typeof fundedActor>>
    let challenger: Awaited<ReturnType<typeof fundedActor>>
    let channel: ChannelRecord
    let dir: string

    beforeAll(async () => {
        net = await startTestDevnet(DEVNET_PORT, {
            parameters: {
                registry: {"Min-Stake": "1000", "Heartbeat-Timeout": "60000"},
                escrow: {
                    "Referee-Count": "2",
                    "Referee-Fee": String(REFEREE_FEE),
                    "Challenge-Bond": String(BOND),
                    "Referee-Timeout": "180000",
                    "Slash-Amount": String(SLASH),
                    "Challenger-Share": "5000"
                }
            }
        })
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-direct-cheater-"))
        const model = await publishTestModel(net, {name: "tiny", seed: 1, ownerFee: TERMS.ownerFeeBps})
        // The cheat: seed 2's weights (same shape and vocabulary) where seed 1's belong.
        await writeTestModel({preset: "tiny", seed: 2, path: path.join(dir, "cheater", "models", `${model.sha256}.gguf`)})
        const wallets = await Promise.all([
            fundedActor(net, "cheater", "2000"),
            fundedActor(net, "honest-1", "2000"),
            fundedActor(net, "honest-2", "2000"),
            fundedActor(net, "owner", "100000"),
            fundedActor(net, "challenger", "10000")
        ])
        const [cheaterWallet, honest1, honest2] = wallets
        ;[owner, challenger] = [wallets[3], wallets[4]]
        const worker = (wallet: {walletFile: string}, name: string, extra: string[] = []) =>
            startWorkerCli(
                [
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
                    path.join(dir, name),
                    "--stake",
                    "2000",
                    "--price-input",
                    TERMS.priceInput,
                    "--price-output",
                    TERMS.priceOutput,
                    ...extra
                ],
                {timeoutMs: 180_000}
            )
        ;[cheater, ...honest] = await Promise.all([
            // Settles after every request: the receipt is in a Receipt-Batch at once.
            worker(cheaterWallet, "cheater", ["--http", String(HTTP_PORT), "--settle-threshold", "1", "--settle-interval", "3600"]),
            worker(honest1, "honest-1"),
            worker(honest2, "honest-2")
        ])
        await eventually(async () => expect(cheater.events.some((e) => e.event === "http.ready")).toBe(true))
        const {processes} = net.devnet
        channel = await new ChannelClient(owner.ao, {escrow: processes.escrow, token: processes.token}).open({
            worker: cheater.address,
            quantity: "50000",
            model: model.modelId
        })
    }, 400_000)
    afterAll(async () => {
        await Promise.all([cheater, ...(honest ?? [])].map((w) => w?.kill("SIGKILL")))
        await net?.dispose()
    })

    it("is challenged by its receipt, judged invalid by the honest referees, slashed, and the channel's owner refunded", async () => {
        const body = {model: "tiny", prompt: "The quick brown fox", max_tokens: 8, temperature: 0}
        const ledger = new ChannelLedger({channel: channel.id, deposited: channel.deposited, paid: channel.paid, nonce: channel.nonce})
        const {nonce, cumulative, receiptsRoot} = ledger.reserve(requestFeeBound(TERMS, parseDirectRequest("completions", body)))
        const voucher = await signVoucher({
            wallet: owner.wallet,
            escrow: net.devnet.processes.escrow,
            channel: channel.id,
            cumulative,
            nonce,
            receiptsRoot
        })
        const response = await fetch(`${BASE}/completions`, {
            method: "POST",
            body: JSON.stringify(body),
            headers: {"Content-Type": "application/json", [VOUCHER_HEADER]: encodeVoucherHeader(voucher)}
        })
        expect(response.status).toBe(200)
        const {weavelm} = (await response.json()) as {weavelm: {channel: string; fee: string; receiptHash: string}}
        expect(weavelm.channel).toBe(channel.id)
        const receiptBytes = new Uint8Array(await (await fetch(`${BASE}/receipts/${weavelm.receiptHash}`)).arrayBuffer())
        expect(decodeReceipt(receiptBytes).taskId).toBe(voucher.id)
        const receiptFile = path.join(dir, "receipt.json")
        const promptFile = path.join(dir, "prompt.txt")
        await writeFile(receiptFile, receiptBytes)
        await writeFile(promptFile, body.prompt)
        const settled = await eventually(async () => {
            const event = cheater.events.find((e) => e.event === "channel.settled" && e.channel === channel.id)
            if (event == null) throw new Error(`channel ${channel.id} not settled yet`)
            return event
        }, 120_000)
        const batchTx = String(settled.batchTx)

        const client = new WeaveLM(owner, net.devnet.processes)
        const ownerBefore = BigInt((await client.escrow.balance()).available)
        const run = await runCli([
            "challenge",
            "--receipt",
            receiptFile,
            "--channel",
            channel.id,
            "--batch-tx",
            batchTx,
            "--fee",
            weavelm.fee,
            "--prompt-file",
            promptFile,
            "--wait",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            challenger.walletFile,
            "--cache-dir",
            path.join(dir, "challenger")
        ])
        expect(run.code, run.stderr).toBe(0)
        const outcome = JSON.parse(run.stdout)
        expect(outcome).toMatchObject({taskId: voucher.id, state: "Invalidated", verdict: "invalid", bond: String(BOND), quorum: 2})
        expect([...outcome.referees].sort()).toEqual(honest.map((w) => w.address).sort())
        expect(outcome.resolution).toMatchObject({
            verdict: "Invalid",
            invalidVotes: 2,
            refund: weavelm.fee,
            slash: {proceeds: String(SLASH)}
        })

        const record = (await client.task(voucher.id))!
        expect(record).toMatchObject({state: "Invalidated", direct: true, channel: channel.id, receiptTx: batchTx, refund: weavelm.fee})
        // The direct-mode worker seeded its dispute like any worker.
        expect(record.dispute!.workerSeed).toMatch(/^[0-9a-f]{64}$/)
        for (const vote of Object.values(record.dispute!.votes)) {
            const report = await (await fetch(`${net.devnet.network.gateway}/${vote.reportTx}`)).json()
            expect(report).toMatchObject({taskId: voucher.id, verdict: "invalid", promptSource: "evidence"})
        }
        expect(BigInt((await client.escrow.balance()).available)).toBe(ownerBefore + BigInt(weavelm.fee))
        const slashed = (await client.registry.worker(cheater.address)) as {stake: string; reputation: {slashed: number}}
        expect(slashed).toMatchObject({stake: "1000", reputation: {slashed: 1}})
    })
})
