import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {afterAll, beforeAll, describe, expect, it} from "vitest"
import {WeaveLM} from "../../sdk/client/index.ts"
import {EscrowClient, FileChallengeSecrets, type InferResult} from "../../sdk/escrow/index.ts"
import type {NetworkConnection} from "../../sdk/network/index.ts"
import {runCli} from "../harness/cli.ts"
import {eventually} from "../harness/eventually.ts"
import {startTestDevnet, type TestDevnet} from "../harness/devnet.ts"
import {fundedActor, publishTestModel} from "../harness/actors.ts"
import {startWorkerCli, type WorkerProcess} from "../harness/workerCli.ts"

const PORT = 4830
const BOND = 1000
const REFEREE_FEE = 100
const CHALLENGE_WINDOW = 600_000
const REFEREE_TIMEOUT = 180_000
const CHALLENGER_TOKENS = 20_000n
const CHALLENGER_DEPOSIT = 5000n

/*
 * Honest workers on the devnet, challenged anyway: a frivolous challenge costs the challenger its
 * bond; a referee that was down answers after its restart; a silent referee lets the deadline
 * decide; the escrow refuses challenges it cannot judge (no committee) or that come too late; and a
 * challenge whose reveal did not happen is finished by `weavelm challenge reveal`, the challenged
 * worker having sent its seed by itself.
 * The escrow's owner (the dev wallet) changes parameters between paths with `Configure`.
 */
describe("challenges of honest work", {timeout: 600_000}, () => {
    let net: TestDevnet
    let requester: WeaveLM
    let challenger: NetworkConnection & {walletFile: string}
    const workers = new Map<string, WorkerProcess>()
    const names = ["w1", "w2", "w3"]
    let dir: string

    const startWorker = async (name: string) => {
        const worker = await startWorkerCli([
            "--network",
            net.devnet.networkFile,
            "--wallet",
            path.join(net.dataDir, "wallets", `${name}.json`),
            "--models",
            "tiny",
            "--gpu",
            "cpu",
            "--threads",
            "1",
            "--cache-dir",
            path.join(dir, name),
            "--stake",
            "1000"
        ])
        workers.set(name, worker)
        return worker
    }
    const configure = (tags: Record<string, string>) => net.connection.ao.send(net.devnet.processes.escrow, {Action: "Configure", ...tags})
    const challenge = (taskId: string, ...args: string[]) =>
        runCli([
            "challenge",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            challenger.walletFile,
            "--cache-dir",
            path.join(dir, "challenger"),
            ...args,
            "--",
            taskId
        ])
    const tokenBalance = async (address: string) =>
        BigInt((await net.connection.ao.read(net.devnet.processes.token, {Action: "Balance", Recipient: address})).tags.Balance ?? "0")
    const escrowBalance = async (address: string) => BigInt((await requester.escrow.balance(address)).available)
    const task = (prompt: string): Promise<InferResult> => requester.escrow.infer({model: "tiny", prompt, maxTokens: 8, maxFee: "100000"})

    beforeAll(async () => {
        net = await startTestDevnet(PORT, {
            parameters: {
                registry: {"Heartbeat-Timeout": "120000"},
                escrow: {
                    "Challenge-Window": String(CHALLENGE_WINDOW),
                    "Task-Timeout": "60000",
                    "Referee-Count": "2",
                    "Referee-Fee": String(REFEREE_FEE),
                    "Challenge-Bond": String(BOND),
                    "Referee-Timeout": String(REFEREE_TIMEOUT)
                }
            }
        })
        dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-honest-"))
        await publishTestModel(net, {name: "tiny"})
        const [requesterWallet, challengerWallet] = await Promise.all([
            fundedActor(net, "requester", "1000000"),
            fundedActor(net, "challenger", String(CHALLENGER_TOKENS)),
            ...names.map((name) => fundedActor(net, name, "1000"))
        ])
        challenger = challengerWallet
        await Promise.all(names.map(startWorker))
        requester = new WeaveLM(requesterWallet, net.devnet.processes)
        await requester.deposit("500000")
        await new WeaveLM(challenger, net.devnet.processes).deposit(String(CHALLENGER_DEPOSIT))
    })
    afterAll(async () => {
        await Promise.all([...workers.values()].map((w) => w.kill("SIGKILL")))
        await net?.dispose()
    })

    it("refuses to challenge a valid answer without --force; with it, the referees uphold the answer and the bond pays them and the worker", async () => {
        const result = await task("The quick brown fox")
        const refused = await challenge(result.taskId, "--bond-from-deposit")
        expect(refused.code).toBe(1)
        expect(refused.stderr.trim().split("\n")).toEqual([expect.stringMatching(/verifies as valid.*--force/)])
        expect((await requester.task(result.taskId))!.state).toBe("Completed")

        const run = await challenge(result.taskId, "--force", "--bond-from-deposit", "--wait")
        expect(run.code, run.stderr).toBe(0)
        const outcome = JSON.parse(run.stdout)
        expect(outcome).toMatchObject({
            taskId: result.taskId,
            verdict: "valid",
            firstBadPosition: null,
            position: 0,
            bondFrom: "deposit",
            state: "Settled"
        })
        expect(outcome.referees).not.toContain(result.worker)
        const workerShare = BOND - 2 * REFEREE_FEE
        expect(outcome.resolution).toMatchObject({
            verdict: "Valid",
            resolution: "Quorum",
            validVotes: 2,
            invalidVotes: 0,
            refereeFee: String(REFEREE_FEE),
            workerShare: String(workerShare),
            struck: []
        })

        const settled = (await requester.task(result.taskId))!
        expect(settled.state).toBe("Settled")
        expect(await escrowBalance(result.worker)).toBe(BigInt(settled.workerFee!) + BigInt(workerShare))
        for (const referee of outcome.referees) expect(await escrowBalance(referee)).toBe(BigInt(REFEREE_FEE))
        expect(await escrowBalance(challenger.address)).toBe(CHALLENGER_DEPOSIT - BigInt(BOND))
    })

    it("refuses a challenge after the window with Challenge-Error, and the bond comes back", async () => {
        await configure({"Challenge-Window": "1500"})
        try {
            const result = await task("Late to the party")
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, result.challengeDeadline - Date.now()) + 200))
            const tokensBefore = await tokenBalance(challenger.address)
            const run = await challenge(result.taskId, "--force")
            expect(run.code).toBe(3)
            expect(run.stderr.trim().split("\n")).toEqual([
                `error: Challenge window of task ${result.taskId} closed at Challenge-Deadline ${result.challengeDeadline}`
            ])
            expect((await requester.task(result.taskId))!.dispute).toBeUndefined()
            await eventually(async () => expect(await tokenBalance(challenger.address)).toBe(tokensBefore))
        } finally {
            await configure({"Challenge-Window": String(CHALLENGE_WINDOW)})
        }
    })

    it("refuses a challenge no committee can judge, and the bond comes back", async () => {
        await configure({"Referee-Count": "5"})
        try {
            const result = await task("Nobody to judge")
            const tokensBefore = await tokenBalance(challenger.address)
            const run = await challenge(result.taskId, "--force")
            expect(run.code).toBe(3)
            expect(run.stderr.trim().split("\n")).toEqual(["error: Only 2 eligible referees for model tiny; Referee-Count is 5"])
            expect((await requester.task(result.taskId))!.state).toBe("Completed")
            await eventually(async () => expect(await tokenBalance(challenger.address)).toBe(tokensBefore))
        } finally {
            await configure({"Referee-Count": "2"})
        }
    })

    it("hears from a referee that was down when the request came, once it restarts", async () => {
        const result = await task("A referee comes back")
        const [downName] = names.filter((name) => workers.get(name)!.address !== result.worker)
        const down = workers.get(downName!)!
        expect(await down.kill("SIGTERM")).toBe(0)

        const run = await challenge(result.taskId, "--force", "--bond-from-deposit")
        expect(run.code, run.stderr).toBe(0)
        const {challengeId, referees} = JSON.parse(run.stdout)
        expect(referees).toContain(down.address)
        // The other referee answers at once; the quorum (both) waits for the one that was down.
        await eventually(async () => expect(Object.keys((await requester.task(result.taskId))!.dispute!.votes)).toHaveLength(1))
        expect((await requester.task(result.taskId))!.state).toBe("Challenged")

        const restarted = await startWorker(downName!)
        await eventually(
            async () =>
                expect((await requester.task(result.taskId))!.dispute).toMatchObject({verdict: "Valid", resolution: "Quorum", valid: 2}),
            120_000
        )
        // The deciding vote's log line comes once the vote's send returns, after every message of the resolution was pushed on:
        // on a loaded machine, well after the record shows the verdict.
        await eventually(async () =>
            expect(restarted.events.filter((e) => e.event === "referee.voted").map((e) => [e.challengeId, e.verdict])).toEqual([
                [challengeId, "Valid"]
            ])
        )
    })

    it("lets the deadline decide when a referee stays silent: the one answer counts and the silent referee is struck", async () => {
        await configure({"Referee-Timeout": "20000"})
        let stopped: string | undefined
        try {
            const result = await task("Silence is golden")
            const [silentName] = names.filter((name) => workers.get(name)!.address !== result.worker)
            const silent = workers.get(silentName!)!
            expect(await silent.kill("SIGTERM")).toBe(0)
            stopped = silentName
            const answering = [...workers.values()].find((w) => w !== silent && w.address !== result.worker)!
            const strikesBefore = ((await requester.registry.worker(silent.address)) as {reputation: {strikes: number}}).reputation.strikes

            const run = await challenge(result.taskId, "--force", "--bond-from-deposit", "--wait")
            expect(run.code, run.stderr).toBe(0)
            const outcome = JSON.parse(run.stdout)
            expect(outcome.resolution).toMatchObject({
                verdict: "Valid",
                resolution: "Deadline",
                validVotes: 1,
                invalidVotes: 0,
                majority: [answering.address],
                struck: [silent.address],
                refereeFee: String(REFEREE_FEE),
                workerShare: String(BOND - REFEREE_FEE)
            })
            expect(outcome.state).toBe("Settled")
            await eventually(async () =>
                expect(((await requester.registry.worker(silent.address)) as {reputation: {strikes: number}}).reputation.strikes).toBe(
                    strikesBefore + 1
                )
            )
        } finally {
            await configure({"Referee-Timeout": String(REFEREE_TIMEOUT)})
            // A stopped worker stays a candidate referee only until its last heartbeat is Heartbeat-Timeout old: the next
            // challenge's committee must not depend on how long this test took.
            if (stopped != null) await startWorker(stopped)
        }
    })

    it("finishes with `weavelm challenge reveal` a challenge committed without its reveal; the worker seeds it by itself", async () => {
        const result = await task("Reveal me later")
        // What `weavelm challenge` keeps under its --cache-dir, committed as a challenger that stopped before revealing would leave it.
        const secrets = new FileChallengeSecrets(path.join(dir, "challenger", "challenges", challenger.address))
        const committed = await new EscrowClient(challenger.ao, net.devnet.processes, {secrets}).commitChallenge({
            taskId: result.taskId,
            position: 0,
            evidenceTx: result.receiptTx,
            bondFrom: "deposit"
        })
        expect(committed).toMatchObject({taskId: result.taskId, worker: result.worker, bond: String(BOND)})
        expect(await secrets.get(committed.seedCommit)).toMatchObject({challengeId: committed.challengeId, taskId: result.taskId})
        await eventually(async () => expect((await requester.task(result.taskId))!.dispute!.workerSeed).toMatch(/^[0-9a-f]{64}$/), 60_000)
        // The worker logs its seed once the escrow has taken it: the line may come a moment after the record shows the seed.
        const seeder = [...workers.values()].find((w) => w.address === result.worker)!
        await eventually(async () =>
            expect(seeder.events.filter((e) => e.event === "dispute.seeded").map((e) => e.challengeId)).toContain(committed.challengeId)
        )

        const run = await runCli([
            "challenge",
            "reveal",
            "--json",
            "--network",
            net.devnet.networkFile,
            "--wallet",
            challenger.walletFile,
            "--cache-dir",
            path.join(dir, "challenger"),
            "--",
            committed.challengeId
        ])
        expect(run.code, run.stderr).toBe(0)
        const drawn = JSON.parse(run.stdout)
        expect(drawn).toMatchObject({taskId: result.taskId, challengeId: committed.challengeId, state: "Challenged", quorum: 2})
        expect(drawn.referees).toHaveLength(2)
        expect(drawn.referees).not.toContain(result.worker)
        // Drawn (the honest referees may already have voted it Valid).
        expect((await requester.task(result.taskId))!.dispute).toMatchObject({committee: drawn.referees, revealedAt: expect.any(Number)})
        // The secret is spent: nothing is left to reveal.
        expect(await secrets.get(committed.seedCommit)).toBeNull()
    })
})
