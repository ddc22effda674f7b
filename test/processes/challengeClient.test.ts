import {createHash} from "node:crypto"
import {mkdtemp} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {beforeAll, describe, expect, it} from "vitest"
import {AoProcessError} from "../../sdk/ao/index.ts"
import {EscrowClient, FileChallengeSecrets, seedCommitOf} from "../../sdk/escrow/index.ts"
import {DisputeWorld, revealedCommittee} from "../harness/disputeWorld.ts"
import {MemoryAo, type Actor} from "../harness/memoryAo.ts"

/*
 * The SDK's side of the commit-reveal (docs/protocol.md, escrow "Seeding the committee") against
 * the real processes: EscrowClient.challenge keeps its secret, waits for the worker's seed and
 * reveals; a challenger restarted from its secret store reveals by Challenge-Id; a refused
 * challenge leaves no secret behind.
 */

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const model = {id: fakeId("client-model"), sha256: hex("client-model"), name: "client-toy"}
const SEED_TIMEOUT = 4000

interface WorkerView {
    address: string
    stake: string
    eligible: boolean
    reputation: {completed: number; strikes: number; slashed: number}
}

let ao: MemoryAo
let world: DisputeWorld
let owner: Actor, alice: Actor, carol: Actor, modelOwner: Actor
let pool: Actor[]
const byAddress = new Map<string, Actor>()
let dir: string

const client = (who: Actor, secretsDir = path.join(dir, who.name)) =>
    new EscrowClient(who.client, {escrow: world.escrow, token: world.token}, {secrets: new FileChallengeSecrets(secretsDir)})
const workerViews = () => owner.client.readJson<WorkerView[]>(world.registry, {Action: "Workers", Model: model.id})

/** A task of alice's answered by its worker. */
async function completedTask(label: string) {
    const trace = await ao.must(alice, world.escrow, {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500"}, label)
    const id = trace.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
    const worker = byAddress.get(trace.find({Action: "Task-Assigned"}).target)!
    await ao.must(
        worker,
        world.escrow,
        {
            Action: "Task-Result",
            "Task-Id": id,
            "Input-Tokens": "17",
            "Output-Tokens": "33",
            "Receipt-Tx": fakeId(`receipt-${id}`),
            "Receipt-Hash": hex(`receipt-${id}`)
        },
        "an answer"
    )
    return {id, worker}
}

beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "weavelm-challenge-client-"))
    ao = MemoryAo.create()
    ;[owner, alice, carol, modelOwner] = await Promise.all([
        ao.actor("owner"),
        ao.actor("alice"),
        ao.actor("carol"),
        ao.actor("model-owner")
    ])
    pool = await Promise.all(["w1", "w2", "w3", "w4", "w5"].map((name) => ao.actor(name)))
    for (const w of pool) byAddress.set(w.address, w)
    world = await DisputeWorld.deploy(ao, owner, {
        registry: {"Min-Stake": "1000", "Unstake-Cooldown": "3600000", "Heartbeat-Timeout": "3600000"},
        escrow: {
            "Challenge-Window": "600000",
            "Task-Timeout": "3600000",
            "Referee-Timeout": "600000",
            "Seed-Timeout": String(SEED_TIMEOUT),
            "Reveal-Timeout": "600000",
            "Publish-Cache": "on"
        }
    })
    for (const who of [alice, carol, ...pool]) await world.mint(who, 50_000n)
    await world.registerModel(modelOwner, model)
    await world.registerWorkers(model, pool, ["2000", "3000", "4000", "5000", "6000"])
    await world.deposit(alice, "20000")
    await world.deposit(carol, "10000")
})

describe("EscrowClient challenges", () => {
    it("commits to a secret, reveals it once the worker has seeded, and resolves with the committee", async () => {
        const task = await completedTask("seeded")
        const views = await workerViews()
        const challenger = client(carol)
        const worker = client(task.worker)
        let seeding: Promise<string> | undefined
        expect(await challenger.leastBond({taskId: task.id})).toBe("1000")
        const accepted = await challenger.challenge(
            {taskId: task.id, position: 3, evidenceTx: fakeId("evidence"), bondFrom: "deposit"},
            {
                // The worker software answers the Challenge-Accepted; here the worker's client does, at once.
                onCommitted: (committed) => void (seeding = worker.seedDispute(committed))
            }
        )
        const seed = await seeding!
        expect(accepted).toMatchObject({
            taskId: task.id,
            worker: task.worker.address,
            challenger: carol.address,
            bond: "1000",
            quorum: 2,
            workerSeed: seed
        })
        const candidates = views.filter((v) => v.eligible && ![task.worker.address, carol.address, alice.address].includes(v.address))
        expect(accepted.referees).toEqual(
            revealedCommittee(
                candidates,
                3,
                (
                    await world
                        .escrowRead({Action: "Task", "Task-Id": task.id})
                        .then((r) => JSON.parse(r.data) as {dispute: {secret: string}})
                ).dispute.secret,
                seed,
                accepted.challengeId
            )
        )
        // The seed came before Seed-Deadline, and the client revealed without waiting for it.
        expect(Date.now()).toBeLessThan(accepted.seedDeadline + 5000)
        expect(await challenger.keptChallenges()).toEqual([])
        expect(await challenger.dispute(task.id)).toMatchObject({
            stage: "Voting",
            committee: accepted.referees,
            seedCommit: accepted.seedCommit
        })
        await world.expectConserved()
    })

    it("reveals after a restart from the kept secret, without the worker's part once Seed-Deadline passed", async () => {
        const task = await completedTask("silent")
        const secretsDir = path.join(dir, "carol-restarted")
        const committed = await client(carol, secretsDir).commitChallenge({
            taskId: task.id,
            position: 0,
            evidenceTx: fakeId("evidence-2"),
            bondFrom: "transfer"
        })
        const [kept] = await new FileChallengeSecrets(secretsDir).list()
        expect(kept).toMatchObject({
            seedCommit: committed.seedCommit,
            challengeId: committed.challengeId,
            taskId: task.id,
            escrow: world.escrow
        })
        expect(seedCommitOf(kept!.secret)).toBe(committed.seedCommit)

        // A new client over the same directory: what `weavelm challenge reveal` is.
        const restarted = client(carol, secretsDir)
        const accepted = await restarted.revealChallenge(committed.challengeId)
        expect(Date.now()).toBeGreaterThan(committed.seedDeadline)
        expect(accepted).toMatchObject({challengeId: committed.challengeId, workerSeed: null, quorum: 2})
        expect(accepted.referees).toHaveLength(3)
        expect(await restarted.keptChallenges()).toEqual([])
        // Asked again, it answers from the escrow's record.
        expect((await restarted.revealChallenge(committed.challengeId)).referees).toEqual(accepted.referees)
        await world.expectConserved()
    })

    it("keeps no secret of a refused challenge", async () => {
        const task = await completedTask("refused")
        const challenger = client(carol, path.join(dir, "carol-refused"))
        const refused = await challenger
            .commitChallenge({taskId: task.id, position: 0, evidenceTx: fakeId("e3"), bond: "999", bondFrom: "deposit"})
            .catch((error: unknown) => error)
        expect(refused).toBeInstanceOf(AoProcessError)
        expect((refused as Error).message).toBe("Bond 999 is below Challenge-Bond 1000")
        expect(await challenger.keptChallenges()).toEqual([])
        await expect(challenger.revealChallenge(fakeId("no-such-challenge"))).rejects.toThrow(/No open challenge/)
    })
})
