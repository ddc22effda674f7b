import {spawn} from "node:child_process"
import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {writeTestModel} from "../../model-publisher/index.ts"
import {WeaveLM} from "../../sdk/client/index.ts"
import type {NetworkConnection} from "../../sdk/network/index.ts"
import {runCli, weavelmBin} from "../harness/cli.ts"
import {eventually} from "../harness/eventually.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const PORT = 4820
const MIN_STAKE = 1000
/** The cheater stakes two slashes' worth, so it stays eligible (and catchable) after the first. */
const CHEATER_STAKE = 2000
const SLASH = 1000
const BOND = 1000
const REFEREE_FEE = 100
/** Only the cheater's quote fits: ceil(1 * 8 / 1000) = 1 against the honest workers' ceil(2000 * 8 / 1000) = 16. */
const CHEAP_MAX_FEE = "10"

/*
 * A cheating worker on the devnet: it registers for the published `tiny` model but serves another
 * model's weights, swapped into its cache under the registered SHA-256 (the cache trusts its file
 * names; nothing in the worker changes). Two honest workers referee. The cheater is caught twice:
 * by `weavelm challenge` run by hand, and by a watchtower (`weavelm verify --watch`) on its own.
 */
describe("a cheating worker", {timeout: 600_000}, () => {
    let net: TestDevnet
    let requester: WeaveLM
    let challenger: NetworkConnection & {walletFile: string}
    let cheater: WorkerProcess
    let honest: WorkerProcess[]
    let dir: string

    const tokenBalance = async (address: string) =>
        BigInt((await net.connection.ao.read(net.devnet.processes.token, {Action: "Balance", Recipient: address})).tags.Balance ?? "0")
    const escrowBalance = async (address: string) => BigInt((await requester.escrow.balance(address)).available)
    const cheapTask = async (prompt: string) => {
        const result = await requester.escrow.infer({model: "tiny", prompt, maxTokens: 8, maxFee: CHEAP_MAX_FEE})
        expect(result.worker).toBe(cheater.address)
        return result
    }

    beforeAll(async () => {
        net = await startTestDevnet(PORT, {
            parameters: {
                registry: {"Min-Stake": String(MIN_STAKE), "Heartbeat-Timeout": "60000"},
                escrow: {
                    "Challenge-Window": "600000",
                    "Task-Timeout": "60000",
                    "Referee-Count": "2",
                    "Referee-Fee": String(REFEREE_FEE),
                    "Challenge-Bond": String(BOND),
                    "Referee-Timeout": "180000",
                    "Slash-Amount": String(SLASH),
                    "Challenger-Share": "5000"
                }
            }
        })
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-cheater-"))
        const {sha256} = await publishTestModel(net, {name: "tiny", seed: 1})
        // The cheat: seed 2's weights (same shape and vocabulary) where seed 1's belong.
        await writeTestModel({preset: "tiny", seed: 2, path: path.join(dir, "cheater", "models", `${sha256}.gguf`)})

        const wallets = await Promise.all([
            fundedActor(net, "cheater", String(CHEATER_STAKE)),
            fundedActor(net, "honest-1", "2000"),
            fundedActor(net, "honest-2", "2000"),
            fundedActor(net, "requester", "1000000"),
            fundedActor(net, "challenger", "10000"),
            fundedActor(net, "watcher", "10000")
        ])
        const [cheaterWallet, honest1, honest2, requesterWallet] = wallets
        challenger = wallets[4]
        const worker = (wallet: {walletFile: string}, name: string, stake: number, prices: [string, string]) =>
            startWorkerCli([
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
                String(stake),
                "--price-input",
                prices[0],
                "--price-output",
                prices[1]
            ])
        ;[cheater, ...honest] = await Promise.all([
            worker(cheaterWallet, "cheater", CHEATER_STAKE, ["1", "1"]),
            worker(honest1, "honest-1", MIN_STAKE, ["1000", "2000"]),
            worker(honest2, "honest-2", MIN_STAKE, ["1000", "2000"])
        ])
        requester = new WeaveLM(requesterWallet, net.devnet.processes)
        await requester.deposit("100000")
        await new WeaveLM(wallets[5], net.devnet.processes).deposit("5000")
    })
    afterAll(async () => {
        await Promise.all([cheater, ...(honest ?? [])].map((w) => w?.kill("SIGKILL")))
        await net?.dispose()
    })

    it("is challenged with `weavelm challenge`, judged invalid by the honest referees, slashed, and the requester refunded in full", async () => {
        const requesterBefore = await requester.escrow.balance()
        const challengerBefore = await tokenBalance(challenger.address)
        const task = await cheapTask("The quick brown fox")

        const run = await runCli([
            "challenge",
            "--wait",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            challenger.walletFile,
            "--cache-dir",
            path.join(dir, "challenger"),
            "--",
            task.taskId
        ])
        expect(run.code, run.stderr).toBe(0)
        const outcome = JSON.parse(run.stdout)
        expect(outcome).toMatchObject({
            taskId: task.taskId,
            state: "Invalidated",
            verdict: "invalid",
            bond: String(BOND),
            bondFrom: "transfer",
            quorum: 2
        })
        expect(outcome.position).toBe(outcome.firstBadPosition)
        expect([...outcome.referees].sort()).toEqual(honest.map((w) => w.address).sort())
        const fees = 2 * REFEREE_FEE
        const reward = Math.floor((SLASH - fees) / 2)
        expect(outcome.resolution).toMatchObject({
            verdict: "Invalid",
            resolution: "Quorum",
            validVotes: 0,
            invalidVotes: 2,
            refund: CHEAP_MAX_FEE,
            slash: {
                proceeds: String(SLASH),
                reward: String(reward),
                refereeFee: String(REFEREE_FEE),
                treasury: String(SLASH - fees - reward)
            }
        })

        // The escrow's record: both referees voted Invalid, each with a stored report of its own.
        const record = (await requester.task(task.taskId))!
        expect(record.state).toBe("Invalidated")
        // The cheater's own worker software sent its seed: the committee was not the challenger's alone to draw.
        expect(record.dispute).toMatchObject({workerSeed: expect.stringMatching(/^[0-9a-f]{64}$/), drawSeed: expect.any(String)})
        const votes = Object.entries(record.dispute!.votes)
        expect(votes.map(([address, vote]) => [address, vote.verdict]).sort()).toEqual(honest.map((w) => [w.address, "Invalid"]).sort())
        for (const [address, vote] of votes) {
            const report = await (await fetch(`${net.devnet.network.gateway}/${vote.reportTx}`)).json()
            expect(report).toMatchObject({taskId: task.taskId, verdict: "invalid", verifier: address, challengeId: outcome.challengeId})
        }
        // The deciding vote's log line may come a moment after the resolution.
        await eventually(async () => {
            for (const w of honest)
                expect(w.events.some((e) => e.event === "referee.voted" && e.taskId === task.taskId && e.verdict === "Invalid")).toBe(true)
        }, 10_000)

        // The requester has everything back; the challenger its bond plus the reward, by transfer.
        const requesterAfter = await requester.escrow.balance()
        expect(requesterAfter).toEqual(requesterBefore)
        await eventually(async () => expect(await tokenBalance(challenger.address)).toBe(challengerBefore + BigInt(reward)))
        for (const w of honest) expect(await escrowBalance(w.address)).toBe(BigInt(REFEREE_FEE))
        const slashed = (await requester.registry.worker(cheater.address)) as {stake: string; reputation: {slashed: number}}
        expect(slashed).toMatchObject({stake: String(CHEATER_STAKE - SLASH), reputation: {slashed: 1}})

        // `weavelm task` shows the dispute's outcome.
        const shown = await runCli(["task", "--network", net.devnet.networkFile, "--", task.taskId])
        expect(shown.stdout).toMatch(/^state +Invalidated$/m)
        expect(shown.stdout).toMatch(/^verdict +Invalid \(Quorum\)$/m)
        expect(shown.stdout).toMatch(new RegExp(`^slash +${SLASH} taken: reward ${reward}`, "m"))
    })

    it("is caught by a watchtower on its own, which stops cleanly on SIGTERM", async () => {
        const watchtower = await startJsonLines([
            "verify",
            "--watch",
            "--sample-rate",
            "1",
            "--bond-from-deposit",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            path.join(net.dataDir, "wallets", "watcher.json"),
            "--cache-dir",
            path.join(dir, "watcher")
        ])
        try {
            expect(watchtower.lines[0]).toMatchObject({watching: true, sampleRate: 1, challenge: {bond: String(BOND), bondFrom: "deposit"}})
            const task = await cheapTask("A story about the sea")
            const checked = await watchtower.next((line) => line.taskId === task.taskId)
            expect(checked).toMatchObject({
                taskId: task.taskId,
                worker: cheater.address,
                verdict: "invalid",
                challenge: {position: checked.firstBadPosition}
            })
            expect(checked.reportTx).toEqual(expect.any(String))

            await eventually(async () => expect((await requester.task(task.taskId))!.state).toBe("Invalidated"), 180_000)
            const dispute = (await requester.task(task.taskId))!.dispute!
            expect(dispute).toMatchObject({
                id: checked.challenge.challengeId,
                evidenceTx: checked.reportTx,
                verdict: "Invalid",
                bond: String(BOND)
            })
            const evidence = await (await fetch(`${net.devnet.network.gateway}/${checked.reportTx}`)).json()
            expect(evidence).toMatchObject({taskId: task.taskId, verdict: "invalid", firstBadPosition: checked.firstBadPosition})
        } finally {
            expect(await watchtower.stop()).toBe(0)
        }
        expect(watchtower.lines.at(-1)).toMatchObject({stopped: true, checked: 1, invalid: 1, challenged: 1})
    })
})

interface JsonLinesProcess {
    lines: Array<Record<string, any>>
    /** The first line (from the start) that `match`es, waiting for it. */
    next(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>
    stop(): Promise<number | null>
}

/** A long-running `weavelm ... --json` printing one JSON document per line; resolves on its first line. */
function startJsonLines(args: string[], timeoutMs = 120_000): Promise<JsonLinesProcess> {
    const child = spawn(process.execPath, [weavelmBin, ...args], {stdio: ["ignore", "pipe", "pipe"]})
    const lines: JsonLinesProcess["lines"] = []
    const waiters: Array<() => void> = []
    let buffered = "",
        stderr = ""
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.stdout.on("data", (chunk) => {
        buffered += chunk
        for (let newline: number; (newline = buffered.indexOf("\n")) >= 0; buffered = buffered.slice(newline + 1))
            lines.push(JSON.parse(buffered.slice(0, newline)))
        for (const wake of waiters.splice(0)) wake()
    })
    const next: JsonLinesProcess["next"] = async (match, waitMs = 180_000) => {
        for (const deadline = Date.now() + waitMs; ; ) {
            const found = lines.find(match)
            if (found != null) return found
            if (Date.now() > deadline || child.exitCode != null)
                throw new Error(`no matching line from weavelm ${args.join(" ")}\n${stderr}`)
            await new Promise<void>((resolve) => {
                waiters.push(resolve)
                setTimeout(resolve, 1000)
            })
        }
    }
    const handle: JsonLinesProcess = {
        lines,
        next,
        async stop() {
            child.kill("SIGTERM")
            return await exited
        }
    }
    return next(() => true, timeoutMs).then(() => handle)
}
