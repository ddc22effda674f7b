import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {challengeSecret, DisputeWorld, revealedCommittee, workerSeed} from "../harness/disputeWorld.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

/*
 * Challenges, the commit-reveal that seeds the committee's draw, referees and
 * slashing (docs/protocol.md, escrow "Disputes") with the real token, registry
 * and escrow wired to each other. Workers and referees are wallets: they
 * stake, register and answer tasks, seeds and referee requests. One
 * deployment walks through the paths in order; each test starts from the
 * state the previous ones left, and ends by checking that no token was
 * created or lost.
 */

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Waits until wall-clock time (what aos stamps on messages) is past `deadline`. */
const passDeadline = async (deadline: string | undefined) => await sleep(Math.max(0, Number(deadline) - Date.now() + 25))

const MIN_STAKE = 1000n
/** Stakes of w1..w6; w7 stakes MIN_STAKE and then unstakes 1, so it is registered but not eligible. */
const STAKES = ["2000", "3000", "4000", "5000", "6000", "7000"]
const MINTED_EACH = 50_000n

interface WorkerView {
    address: string
    stake: string
    eligible: boolean
    lastHeartbeat: number
    heartbeatTimeout: number
    reputation: {completed: number; strikes: number; slashed: number}
    unstaking: {amount: string}
}

interface Dispute {
    id: string
    challenger: string
    bond: string
    stage: string
    seedCommit: string
    workerSeed?: string
    secret?: string
    drawSeed?: string
    committee: string[]
    verdict?: string
    resolution?: string
    majority?: string[]
    struck?: string[]
    proceeds?: string
    reward?: string
    treasury?: string
}

interface TaskView {
    id: string
    state: string
    locked: string
    worker: string
    fee: string
    challengeDeadline: number
    dispute?: Dispute
    lapsed?: Dispute[]
}

let ao: MemoryAo
let world: DisputeWorld
let owner: Actor, alice: Actor, bob: Actor, carol: Actor, modelOwner: Actor, stranger: Actor
let pool: Actor[]
let token: string, registry: string, escrow: string
const byAddress = new Map<string, Actor>()
const model = {id: fakeId("dispute-model"), sha256: hex("dispute-model"), name: "dispute-toy"}

const must = (who: Actor, target: string, tags: TagValues, data?: string) => ao.must(who, target, tags, data)

const errorOf = (trace: Trace, action: string) => trace.find({Action: `${action}-Error`}).tags.Error

const escrowRead = (tags: TagValues) => world.escrowRead(tags)
const tokenBalance = (who: string) => world.tokenBalance(who)
const escrowBalance = async (who: string) => (await escrowRead({Action: "Balance", Recipient: who})).tags
const available = async (who: Actor) => BigInt((await escrowBalance(who.address)).Balance ?? "0")
const workerViews = () => owner.client.readJson<WorkerView[]>(registry, {Action: "Workers", Model: model.id})
const readTask = async (id: string) => JSON.parse((await escrowRead({Action: "Task", "Task-Id": id})).data) as TaskView
const configureEscrow = (tags: TagValues) => must(owner, escrow, {Action: "Configure", ...tags})

function result(worker: Actor, taskId: string, output = "forty-two") {
    return must(
        worker,
        escrow,
        {
            Action: "Task-Result",
            "Task-Id": taskId,
            "Input-Tokens": "17",
            "Output-Tokens": "33",
            "Receipt-Tx": fakeId(`receipt-${taskId}`),
            "Receipt-Hash": hex(`receipt-${taskId}`)
        },
        output
    )
}

/** A task of alice's, paid from her deposit, answered by its worker. */
async function completedTask(output = "forty-two") {
    const trace = await must(
        alice,
        escrow,
        {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500", "X-Reference": "job"},
        "What is six times seven?"
    )
    const id = trace.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
    const worker = byAddress.get(trace.find({Action: "Task-Assigned"}).target)!
    const done = await result(worker, id, output)
    return {id, worker, challengeDeadline: done.find({Action: "Infer-Result"}).tags["Challenge-Deadline"]!}
}

const challengeTags = (id: string, seedCommit: string, position = "3", extra: TagValues = {}): TagValues => ({
    "Task-Id": id,
    Position: position,
    "Evidence-Tx": fakeId(`evidence-${id}`),
    "Seed-Commit": seedCommit,
    ...extra
})

/** A challenge paid from `who`'s escrow deposit, committing to `secret`. */
const challenge = (who: Actor, id: string, bond = "1000", extra: TagValues = {}, secret = challengeSecret()) =>
    ao.send(who, escrow, {Action: "Challenge", Bond: bond, ...challengeTags(id, secret.seedCommit, "3", extra)})

/** A challenge whose bond comes with a token transfer (`X-Action=Challenge`). */
const challengeByTransfer = (who: Actor, id: string, quantity: string, reference = "challenge", secret = challengeSecret()) =>
    ao.send(who, token, {
        Action: "Transfer",
        Recipient: escrow,
        Quantity: quantity,
        "X-Action": "Challenge",
        "X-Task-Id": id,
        "X-Position": "3",
        "X-Evidence-Tx": fakeId(`evidence-${id}`),
        "X-Seed-Commit": secret.seedCommit,
        "X-Reference": reference
    })

/** The accused worker's part of the draw. */
const seedDispute = (who: Actor, id: string, challengeId: string, seed = workerSeed()) =>
    ao.send(who, escrow, {Action: "Dispute-Seed", "Task-Id": id, "Challenge-Id": challengeId, Seed: seed})

/** The challenger's reveal: the committee is drawn. */
const reveal = (who: Actor, id: string, challengeId: string, secret: string) =>
    ao.send(who, escrow, {Action: "Reveal-Seed", "Task-Id": id, "Challenge-Id": challengeId, Secret: secret})

const vote = (who: Actor, id: string, verdict: string) =>
    ao.send(who, escrow, {Action: "Referee-Verdict", "Task-Id": id, Verdict: verdict, "Report-Tx": fakeId(`report-${who.name}-${id}`)})

/** The candidates the escrow keeps at a challenge, from the registry's records (eligible, not excluded). */
const candidatesOf = (views: WorkerView[], exclude: string[]) => views.filter((v) => v.eligible && !exclude.includes(v.address))

/**
 * A whole challenge as the SDK runs it, from `who`'s deposit: the Challenge with a Seed-Commit,
 * the worker's Dispute-Seed, the Reveal-Seed. Returns the committee and the traces of each step.
 */
async function openDispute(
    who: Actor,
    task: {id: string; worker: Actor},
    {bond = "1000", reference}: {bond?: string; reference?: string} = {}
) {
    const secret = challengeSecret()
    const challenged = await challenge(who, task.id, bond, reference == null ? {} : {"X-Reference": reference}, secret)
    const challengeId = challenged.find({Action: "Challenge-Accepted", Challenger: who.address}).tags["Challenge-Id"]!
    const seed = workerSeed()
    await must(task.worker, escrow, {Action: "Dispute-Seed", "Task-Id": task.id, "Challenge-Id": challengeId, Seed: seed})
    const revealed = await must(who, escrow, {
        Action: "Reveal-Seed",
        "Task-Id": task.id,
        "Challenge-Id": challengeId,
        Secret: secret.secret
    })
    const notice = revealed.find({Action: "Reveal-Seed-Notice"})
    return {challenged, challengeId, secret, seed, revealed, notice, committee: notice.tags.Referees!.split(",")}
}

const expectConserved = () => world.expectConserved()

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, alice, bob, carol, modelOwner, stranger] = await Promise.all([
        ao.actor("owner"),
        ao.actor("alice"),
        ao.actor("bob"),
        ao.actor("carol"),
        ao.actor("model-owner"),
        ao.actor("stranger")
    ])
    pool = await Promise.all(["w1", "w2", "w3", "w4", "w5", "w6", "w7"].map((name) => ao.actor(name)))
    for (const w of pool) byAddress.set(w.address, w)

    world = await DisputeWorld.deploy(ao, owner, {
        registry: {"Min-Stake": String(MIN_STAKE), "Unstake-Cooldown": "3600000", "Heartbeat-Timeout": "3600000"},
        escrow: {
            "Challenge-Window": "60000",
            "Task-Timeout": "3600000",
            "Referee-Timeout": "120000",
            "Seed-Timeout": "120000",
            "Reveal-Timeout": "120000"
        }
    })
    ;({token, registry, escrow} = world)
    for (const who of [alice, bob, carol, ...pool]) await world.mint(who, MINTED_EACH)
    await world.registerModel(modelOwner, model)
    await world.registerWorkers(
        model,
        pool,
        pool.map((_, i) => STAKES[i] ?? String(MIN_STAKE))
    )
    await must(pool[6]!, registry, {Action: "Unstake", Quantity: "1"})
    await world.deposit(alice, "20000")
    await world.deposit(carol, "10000")
})

describe("escrow disputes: challenge, referees, slash", () => {
    let invalidated: string

    it("starts with the documented dispute parameters and a conserved state", async () => {
        const info = await escrowRead({Action: "Info"})
        expect(info.tags).toMatchObject({
            "Challenge-Bond": "1000",
            "Referee-Count": "3",
            "Referee-Fee": "100",
            "Referee-Timeout": "120000",
            "Slash-Amount": "all",
            "Challenger-Share": "5000",
            "Seed-Timeout": "120000",
            "Reveal-Timeout": "120000",
            "Audit-Rate": "1000000",
            Bonds: "0",
            Treasury: "0"
        })
        const views = await workerViews()
        expect(views.filter((v) => v.eligible)).toHaveLength(6)
        expect(views.find((v) => v.address === pool[6]!.address)).toMatchObject({eligible: false, stake: "999"})
        await expectConserved()
    })

    it("judges a dishonest result Invalid by majority: the worker is slashed, the requester refunded, challenger and majority paid, the minority struck", async () => {
        const bobBefore = await tokenBalance(bob.address)
        const call = await must(bob, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "500",
            "X-Action": "Infer",
            "X-Model": model.id,
            "X-Max-Tokens": "40",
            "X-Prompt": "What is two plus two?",
            "X-Reference": "dishonest"
        })
        const id = call.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
        const worker = byAddress.get(call.find({Action: "Task-Assigned"}).target)!
        await result(worker, id, "five")
        // The challenger is itself a worker: it may challenge, but not judge.
        const challenger = pool.find((w) => w !== worker && w !== pool[6])!
        const views = await workerViews()
        const slashedStake = BigInt(views.find((v) => v.address === worker.address)!.stake)
        const challengerBefore = await tokenBalance(challenger.address)

        const secret = challengeSecret()
        const trace = await challengeByTransfer(challenger, id, "1200", "ch-1", secret)
        const accepted = trace.find({Action: "Challenge-Accepted", "X-Reference": "ch-1"})
        expect(accepted.target).toBe(challenger.address)
        expect(accepted.tags).toMatchObject({
            "Task-Id": id,
            Worker: worker.address,
            Challenger: challenger.address,
            Bond: "1200",
            Quorum: "2",
            "Seed-Commit": secret.seedCommit
        })
        const challengeId = accepted.tags["Challenge-Id"]!
        expect(Number(accepted.tags["Reveal-Deadline"])).toBe(Number(accepted.tags["Seed-Deadline"]) + 120000)
        // No committee yet: the worker is asked for its seed, nobody for a verdict.
        expect(
            trace
                .filter({Action: "Challenge-Accepted"})
                .map((m) => m.target)
                .sort()
        ).toEqual([challenger.address, worker.address, bob.address].sort())
        expect(trace.filter({Action: "Referee-Request"})).toEqual([])
        expect(await readTask(id)).toMatchObject({
            state: "Challenged",
            dispute: {stage: "Seeding", seedCommit: secret.seedCommit, committee: []}
        })
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": id}), "Settle")).toMatch(
            /committee is drawn when the challenger reveals/
        )

        const seed = workerSeed()
        const seeded = await seedDispute(worker, id, challengeId, seed)
        expect(seeded.find({Action: "Dispute-Seed-Notice"})).toMatchObject({target: worker.address, tags: {"Task-Id": id, Seed: seed}})
        expect(seeded.find({Action: "Dispute-Seeded"})).toMatchObject({
            target: challenger.address,
            tags: {"Challenge-Id": challengeId, Seed: seed, "Reveal-Deadline": accepted.tags["Reveal-Deadline"], "X-Reference": "ch-1"}
        })

        const revealed = await reveal(challenger, id, challengeId, secret.secret)
        const notice = revealed.find({Action: "Reveal-Seed-Notice"})
        expect(notice.target).toBe(challenger.address)
        const committee = notice.tags.Referees!.split(",")
        expect(committee).toEqual(
            revealedCommittee(candidatesOf(views, [worker.address, challenger.address, bob.address]), 3, secret.secret, seed, challengeId)
        )
        for (const excluded of [worker, challenger, pool[6]!]) expect(committee).not.toContain(excluded.address)
        expect(notice.tags).toMatchObject({"Task-Id": id, "Challenge-Id": challengeId, Quorum: "2", "Worker-Seed": seed})
        expect(
            revealed
                .filter({Action: "Committee-Drawn"})
                .map((m) => m.target)
                .sort()
        ).toEqual([worker.address, bob.address].sort())
        expect(revealed.find({Action: "Committee-Drawn", "X-Reference": "dishonest"}).tags.Referees).toBe(notice.tags.Referees)
        const requests = revealed.filter({Action: "Referee-Request"})
        expect(requests.map((m) => m.target)).toEqual(committee)
        expect(requests[0]!.tags).toMatchObject({
            "Task-Id": id,
            "Challenge-Id": challengeId,
            Worker: worker.address,
            Challenger: challenger.address,
            Model: model.id,
            "Model-SHA256": model.sha256,
            "Receipt-Tx": fakeId(`receipt-${id}`),
            "Receipt-Hash": hex(`receipt-${id}`),
            "Input-Tokens": "17",
            "Output-Tokens": "33",
            Position: "3",
            "Evidence-Tx": fakeId(`evidence-${id}`),
            Deadline: notice.tags["Referee-Deadline"],
            "Max-Tokens": "40",
            Temperature: "0",
            "Top-K": "40",
            "Top-P": "1",
            Seed: "0",
            Format: "text",
            "Prompt-Message": id
        })
        expect(requests[0]!.data).toBe("five")

        // Frozen: nothing settles, the bond is held.
        expect(await readTask(id)).toMatchObject({
            state: "Challenged",
            dispute: {challenger: challenger.address, bond: "1200", committee, stage: "Voting", workerSeed: seed, secret: secret.secret}
        })
        expect((await escrowBalance(challenger.address)).Bonded).toBe("1200")
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": id}), "Settle")).toMatch(/is challenged/)
        await expectConserved()

        // Only committee members vote, each once.
        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        expect(errorOf(await vote(stranger, id, "Invalid"), "Referee-Verdict")).toMatch(/Not a referee of task/)
        expect(errorOf(await vote(worker, id, "Valid"), "Referee-Verdict")).toMatch(/Not a referee of task/)
        expect(errorOf(await vote(m1!, id, "Maybe"), "Referee-Verdict")).toMatch(/Verdict must be one of Valid, Invalid/)
        const strikesBefore = (await workerViews()).find((v) => v.address === m1!.address)!.reputation.strikes
        expect((await vote(m1!, id, "Valid")).find({Action: "Referee-Verdict-Notice"}).tags).toMatchObject({
            "Task-Id": id,
            Verdict: "Valid",
            "Valid-Votes": "1",
            "Invalid-Votes": "0"
        })
        await vote(m2!, id, "Invalid")
        expect(errorOf(await vote(m2!, id, "Valid"), "Referee-Verdict")).toMatch(/Already voted on task/)
        const [m2Before, m3Before] = [await available(m2!), await available(m3!)]

        const decided = await vote(m3!, id, "Invalid")
        const resolved = decided.find({Action: "Challenge-Resolved", "X-Reference": "ch-1"})
        expect(resolved.target).toBe(challenger.address)
        expect(resolved.tags).toMatchObject({
            Verdict: "Invalid",
            Resolution: "Quorum",
            "Valid-Votes": "1",
            "Invalid-Votes": "2",
            Majority: `${m2!.address},${m3!.address}`,
            Struck: m1!.address,
            Refund: "500"
        })
        // The requester gets everything back, by transfer as it paid.
        expect(decided.find({Action: "Infer-Refunded"}).tags).toMatchObject({"Task-Id": id, Refund: "500", "X-Reference": "dishonest"})
        expect(decided.find({Action: "Transfer", Recipient: bob.address}).tags.Quantity).toBe("500")
        expect(decided.find({Action: "Transfer", Recipient: challenger.address, "X-Challenge-Payout": "Bond"}).tags.Quantity).toBe("1200")
        // The worker's whole stake is slashed to the escrow...
        expect(decided.find({Action: "Slash"})).toMatchObject({
            target: registry,
            tags: {Worker: worker.address, Quantity: "9".repeat(38), "Task-Id": id, Recipient: escrow}
        })
        expect(decided.find({Action: "Slash-Notice"}).tags).toMatchObject({Worker: worker.address, Quantity: String(slashedStake)})
        expect(decided.find({Action: "Credit-Notice", "X-Slash-Task": id})).toMatchObject({
            target: escrow,
            tags: {Sender: registry, Quantity: String(slashedStake), "X-Slash-Worker": worker.address}
        })
        // ...and shared when it arrives: 100 to each majority referee, half the rest to the challenger.
        const rest = slashedStake - 200n
        const reward = rest / 2n
        expect(decided.find({Action: "Slash-Distributed", "X-Reference": "ch-1"}).tags).toMatchObject({
            Proceeds: String(slashedStake),
            Reward: String(reward),
            "Referee-Fee": "100",
            Treasury: String(rest - reward)
        })
        expect(decided.filter({Action: "Slash-Distributed"}).map((m) => m.target)).toEqual([challenger.address, m2!.address, m3!.address])
        expect(decided.find({Action: "Transfer", Recipient: challenger.address, "X-Challenge-Payout": "Reward"}).tags.Quantity).toBe(
            String(reward)
        )
        expect(decided.filter({Action: "Record-Outcome"}).map((m) => [m.tags.Worker, m.tags.Outcome])).toEqual([[m1!.address, "Strike"]])
        expect(decided.filter({Action: "Task-Settled"})).toEqual([])

        const after = await workerViews()
        expect(after.find((v) => v.address === worker.address)).toMatchObject({stake: "0", eligible: false, reputation: {slashed: 1}})
        expect(after.find((v) => v.address === m1!.address)!.reputation.strikes).toBe(strikesBefore + 1)
        expect(await tokenBalance(bob.address)).toBe(bobBefore)
        expect(await tokenBalance(challenger.address)).toBe(challengerBefore + reward)
        expect([await available(m2!), await available(m3!)]).toEqual([m2Before + 100n, m3Before + 100n])
        expect((await escrowRead({Action: "Info"})).tags.Treasury).toBe(String(rest - reward))
        expect(await readTask(id)).toMatchObject({
            state: "Invalidated",
            refund: "500",
            dispute: {verdict: "Invalid", proceeds: String(slashedStake), reward: String(reward), treasury: String(rest - reward)}
        })
        expect(errorOf(await vote(m1!, id, "Invalid"), "Referee-Verdict")).toMatch(/Already voted/)
        invalidated = id
        await expectConserved()
    })

    it("upholds a frivolous challenge: the bond pays the majority referees and the worker, and the task settles", async () => {
        const task = await completedTask()
        const before = {
            alice: await available(alice),
            carol: await available(carol),
            worker: await available(task.worker),
            owner: await available(modelOwner)
        }
        const views = await workerViews()
        const {challenged, challengeId, secret, seed, committee} = await openDispute(carol, task, {reference: "ch-2"})
        // A challenge from the deposit: its own message id is the Challenge-Id, which the draw's seed includes.
        expect(challenged.find({Action: "Challenge-Accepted", "X-Reference": "ch-2"}).tags["Challenge-Id"]).toBe(challenged.id)
        expect(committee).toEqual(
            revealedCommittee(candidatesOf(views, [task.worker.address, carol.address, alice.address]), 3, secret.secret, seed, challengeId)
        )
        expect(await escrowBalance(carol.address)).toMatchObject({Balance: String(before.carol - 1000n), Bonded: "1000"})
        expect((await escrowRead({Action: "Info"})).tags.Bonds).toBe("1000")
        await expectConserved()

        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        const paidBefore = [await available(m1!), await available(m2!)]
        await vote(m1!, task.id, "Valid")
        const decided = await vote(m2!, task.id, "Valid")
        expect(decided.find({Action: "Challenge-Resolved", "X-Reference": "ch-2"}).tags).toMatchObject({
            Verdict: "Valid",
            Resolution: "Quorum",
            Majority: `${m1!.address},${m2!.address}`,
            Struck: "",
            "Referee-Fee": "100",
            "Worker-Share": "800"
        })
        // worker: ceil((1000 * 17 + 2000 * 33) / 1000) = 83; owner: floor(83 * 5%) = 4.
        expect(decided.find({Action: "Task-Settled", "X-Reference": "job"}).tags).toMatchObject({
            Fee: "87",
            "Worker-Fee": "83",
            "Owner-Fee": "4",
            Refund: "413"
        })
        expect(decided.filter({Action: "Record-Outcome"}).map((m) => [m.tags.Worker, m.tags.Outcome])).toEqual([
            [task.worker.address, "Completed"]
        ])
        expect(decided.filter({Action: "Slash"})).toEqual([])
        expect(errorOf(await vote(m3!, task.id, "Invalid"), "Referee-Verdict")).toMatch(/resolved \(Valid\)/)

        expect([await available(m1!), await available(m2!)]).toEqual(paidBefore.map((b) => b + 100n))
        expect(await available(task.worker)).toBe(before.worker + 83n + 800n)
        expect(await available(modelOwner)).toBe(before.owner + 4n)
        // Max-Fee 500 was locked when the task opened: 413 of it comes back.
        expect(await available(alice)).toBe(before.alice + 413n)
        expect(await escrowBalance(carol.address)).toMatchObject({Balance: String(before.carol - 1000n), Bonded: "0"})
        expect(await readTask(task.id)).toMatchObject({state: "Settled", dispute: {verdict: "Valid", majority: [m1!.address, m2!.address]}})
        await expectConserved()
    })

    it("decides at the referee deadline by those who answered, striking the silent", async () => {
        await configureEscrow({"Referee-Timeout": "8000"})
        const task = await completedTask()
        const carolBefore = await available(carol)
        const balancesBefore = new Map<string, bigint>()
        for (const w of pool) balancesBefore.set(w.address, await available(w))
        const strikesBefore = new Map((await workerViews()).map((v) => [v.address, v.reputation.strikes]))
        const {committee, notice} = await openDispute(carol, task)
        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, task.id, "Valid")

        await passDeadline(notice.tags["Referee-Deadline"])
        const upkept = await ao.send(stranger, escrow, {Action: "Settle"})
        expect(upkept.find({Action: "Challenge-Resolved", Verdict: "Valid"}).tags).toMatchObject({
            Resolution: "Deadline",
            "Valid-Votes": "1",
            "Invalid-Votes": "0",
            Majority: m1!.address,
            Struck: `${m2!.address},${m3!.address}`
        })
        expect(upkept.filter({Action: "Record-Outcome", Outcome: "Strike"}).map((m) => m.tags.Worker)).toEqual([m2!.address, m3!.address])
        expect(upkept.find({Action: "Task-Settled", "X-Reference": "job"}).tags.Fee).toBe("87")
        expect(errorOf(await vote(m2!, task.id, "Invalid"), "Referee-Verdict")).toMatch(/resolved \(Valid\)/)

        expect(await available(m1!)).toBe(balancesBefore.get(m1!.address)! + 100n)
        expect(await available(task.worker)).toBe(balancesBefore.get(task.worker.address)! + 83n + 900n)
        expect(await available(carol)).toBe(carolBefore - 1000n)
        const strikes = new Map((await workerViews()).map((v) => [v.address, v.reputation.strikes]))
        expect([m1, m2, m3].map((m) => strikes.get(m!.address)! - strikesBefore.get(m!.address)!)).toEqual([0, 1, 1])
        await expectConserved()
    })

    it("falls back to upholding the result and returning the bond when no referee answers", async () => {
        const task = await completedTask()
        const carolBefore = await available(carol)
        const workerBefore = await available(task.worker)
        const strikesBefore = new Map((await workerViews()).map((v) => [v.address, v.reputation.strikes]))
        const {committee, notice} = await openDispute(carol, task)
        expect(await available(carol)).toBe(carolBefore - 1000n)

        await passDeadline(notice.tags["Referee-Deadline"])
        const upkept = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": task.id})
        expect(upkept.find({Action: "Settle-Notice"}).tags["Task-Id"]).toBe(task.id)
        const resolved = upkept.filter({Action: "Challenge-Resolved", Verdict: "Undecided"})
        expect(resolved.map((m) => m.target).sort()).toEqual([carol.address, task.worker.address, alice.address, ...committee].sort())
        expect(resolved[0]!.tags).toMatchObject({
            Resolution: "Deadline",
            "Valid-Votes": "0",
            "Invalid-Votes": "0",
            Majority: "",
            Struck: committee.join(",")
        })
        expect(upkept.filter({Action: "Record-Outcome", Outcome: "Strike"}).map((m) => m.tags.Worker)).toEqual(committee)
        expect(upkept.find({Action: "Task-Settled", "X-Reference": "job"}).tags.Fee).toBe("87")

        expect(await available(carol)).toBe(carolBefore)
        expect(await available(task.worker)).toBe(workerBefore + 83n)
        const strikes = new Map((await workerViews()).map((v) => [v.address, v.reputation.strikes]))
        expect(committee.map((a) => strikes.get(a)! - strikesBefore.get(a)!)).toEqual([1, 1, 1])
        await configureEscrow({"Referee-Timeout": "120000"})
        await expectConserved()
    })

    it("refuses a challenge when too few eligible referees are left, refunding the bond", async () => {
        // Five eligible workers remain (one was slashed); without the task's worker, four.
        await configureEscrow({"Referee-Count": "5"})
        const task = await completedTask()
        const carolTokens = await tokenBalance(carol.address)
        const carolDeposit = await available(carol)
        const byTransfer = await challengeByTransfer(carol, task.id, "1000")
        expect(errorOf(byTransfer, "Challenge")).toBe(`Only 4 eligible referees for model ${model.name}; Referee-Count is 5`)
        expect(byTransfer.find({Action: "Transfer", Recipient: carol.address}).tags).toMatchObject({Quantity: "1000"})
        expect(await tokenBalance(carol.address)).toBe(carolTokens)
        expect(errorOf(await challenge(carol, task.id), "Challenge")).toMatch(/Only 4 eligible referees/)
        expect(await available(carol)).toBe(carolDeposit)
        expect((await readTask(task.id)).state).toBe("Completed")
        await configureEscrow({"Referee-Count": "3"})
        await expectConserved()
    })

    it("refuses a challenge after the window, and the task settles", async () => {
        await configureEscrow({"Challenge-Window": "1500"})
        const task = await completedTask()
        await passDeadline(task.challengeDeadline)
        const carolTokens = await tokenBalance(carol.address)
        const late = await challengeByTransfer(carol, task.id, "1000", "late")
        expect(late.find({Action: "Task-Settled", "X-Reference": "job"}).tags["Task-Id"]).toBe(task.id)
        const refused = late.find({Action: "Challenge-Error"})
        expect(refused).toMatchObject({target: carol.address, tags: {"X-Reference": "late"}})
        expect(refused.tags.Error).toBe(`Challenge window of task ${task.id} closed at Challenge-Deadline ${task.challengeDeadline}`)
        expect(late.find({Action: "Transfer", Recipient: carol.address}).tags.Quantity).toBe("1000")
        expect(await tokenBalance(carol.address)).toBe(carolTokens)
        await configureEscrow({"Challenge-Window": "60000"})
        await expectConserved()
    })

    it("refuses malformed and unfounded challenges, refunding a transferred bond", async () => {
        const carolTokens = await tokenBalance(carol.address)
        const carolDeposit = await available(carol)
        const pending = await must(alice, escrow, {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500"}, "Hi")
        const pendingId = pending.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
        const worker = byAddress.get(pending.find({Action: "Task-Assigned"}).target)!
        expect(errorOf(await challenge(carol, fakeId("no-such-task")), "Challenge")).toMatch(/Unknown task/)
        expect(errorOf(await challenge(carol, pendingId), "Challenge")).toBe(`Task ${pendingId} has no result to challenge (Assigned)`)
        expect(errorOf(await challenge(carol, invalidated), "Challenge")).toBe(`Task ${invalidated} is already challenged`)
        await result(worker, pendingId)

        expect(errorOf(await challengeByTransfer(worker, pendingId, "1000"), "Challenge")).toMatch(/cannot challenge its own result/)
        const small = await challengeByTransfer(carol, pendingId, "999", "small")
        expect(errorOf(small, "Challenge")).toBe("Bond 999 is below Challenge-Bond 1000")
        expect(small.find({Action: "Transfer", Recipient: carol.address}).tags).toMatchObject({
            Quantity: "999",
            "X-Refund-Reason": "Bond 999 is below Challenge-Bond 1000"
        })
        expect(errorOf(await challenge(carol, pendingId, "999"), "Challenge")).toBe("Bond 999 is below Challenge-Bond 1000")
        expect(errorOf(await challenge(carol, pendingId, "0"), "Challenge")).toMatch(/Bond must be greater than 0/)
        expect(errorOf(await challenge(stranger, pendingId), "Challenge")).toMatch(/Bond 1000 is above the available balance 0/)
        expect(errorOf(await challenge(carol, pendingId, "1000", {Position: "34"}), "Challenge")).toBe(
            "Position 34 is above Output-Tokens 33"
        )
        expect(errorOf(await challenge(carol, pendingId, "1000", {"Evidence-Tx": "short"}), "Challenge")).toMatch(
            /Evidence-Tx must be a 43-character id/
        )
        expect(errorOf(await challenge(carol, pendingId, "1000", {"Seed-Commit": "ab".repeat(31)}), "Challenge")).toBe(
            "Seed-Commit must be 64 lowercase hex characters"
        )
        expect(errorOf(await challenge(carol, pendingId, "1000", {"Seed-Commit": ""}), "Challenge")).toBe("Seed-Commit is required")
        // The least bond covers a full committee's fees plus the task's fee when that is above Challenge-Bond.
        await configureEscrow({"Referee-Fee": "320"})
        const fee = (await readTask(pendingId)).fee
        expect(errorOf(await challenge(carol, pendingId, "1000"), "Challenge")).toBe(
            `Bond 1000 is below ${960 + Number(fee)}: Referee-Count x Referee-Fee + the Fee ${fee} of task ${pendingId}`
        )
        await configureEscrow({"Referee-Fee": "100"})
        expect(errorOf(await vote(carol, pendingId, "Invalid"), "Referee-Verdict")).toMatch(/is not challenged/)

        expect(await tokenBalance(carol.address)).toBe(carolTokens)
        expect(await available(carol)).toBe(carolDeposit)
        expect((await readTask(pendingId)).state).toBe("Completed")
        await expectConserved()
    })

    it("accepts slash proceeds only from the registry through the configured token", async () => {
        const forged = await ao.send(stranger, escrow, {
            Action: "Credit-Notice",
            Sender: registry,
            Quantity: "5000",
            "X-Slash-Task": invalidated
        })
        expect(errorOf(forged, "Credit-Notice")).toMatch(/configured token/)
        const fromWallet = await ao.send(carol, token, {Action: "Transfer", Recipient: escrow, Quantity: "50", "X-Slash-Task": invalidated})
        expect(errorOf(fromWallet, "Credit-Notice")).toBe("Slash proceeds must come from the registry")
        expect(fromWallet.find({Action: "Transfer", Recipient: carol.address}).tags.Quantity).toBe("50")
        expect(
            errorOf(await ao.send(stranger, escrow, {Action: "Slash-Notice", "Task-Id": invalidated, Quantity: "0"}), "Slash-Notice")
        ).toMatch(/Only the registry/)
        expect((await readTask(invalidated)).dispute).toMatchObject({proceeds: expect.any(String)})
        await expectConserved()
    })

    it("refuses a wrong secret with Reveal-Seed-Error, and early, foreign or repeated reveals and seeds; a silent worker still gets a committee", async () => {
        // Long enough for the first reveal to come before it on a loaded machine.
        await configureEscrow({"Seed-Timeout": "10000"})
        const task = await completedTask()
        const views = await workerViews()
        const secret = challengeSecret()
        const accepted = (await challenge(carol, task.id, "1000", {}, secret)).find({
            Action: "Challenge-Accepted",
            Challenger: carol.address
        })
        const challengeId = accepted.tags["Challenge-Id"]!
        const wrong = challengeSecret().secret
        // Before the worker's seed and its deadline a reveal is refused, whatever the secret: the worker could then choose its seed.
        expect(errorOf(await reveal(carol, task.id, challengeId, wrong), "Reveal-Seed")).toBe(
            `The worker of task ${task.id} may seed until Seed-Deadline ${accepted.tags["Seed-Deadline"]}: reveal after its Dispute-Seed or then`
        )

        expect(errorOf(await seedDispute(stranger, task.id, challengeId), "Dispute-Seed")).toBe(
            `Only the worker of task ${task.id} seeds its dispute`
        )
        expect(errorOf(await seedDispute(task.worker, task.id, task.id), "Dispute-Seed")).toBe(
            `Challenge ${task.id} is not the open challenge of task ${task.id} (${challengeId})`
        )
        expect(errorOf(await seedDispute(task.worker, task.id, challengeId, "XY".repeat(32)), "Dispute-Seed")).toBe(
            "Seed must be 64 lowercase hex characters"
        )
        expect(errorOf(await reveal(stranger, task.id, challengeId, secret.secret), "Reveal-Seed")).toBe(
            `Only the challenger of task ${task.id} reveals its secret`
        )

        await passDeadline(accepted.tags["Seed-Deadline"])
        expect(errorOf(await seedDispute(task.worker, task.id, challengeId), "Dispute-Seed")).toBe(
            `Seed-Deadline ${accepted.tags["Seed-Deadline"]} of task ${task.id} has passed`
        )
        expect(errorOf(await reveal(carol, task.id, challengeId, wrong), "Reveal-Seed")).toBe(
            `Secret does not match the Seed-Commit of challenge ${challengeId}`
        )
        expect(errorOf(await reveal(carol, task.id, challengeId, "secret"), "Reveal-Seed")).toBe(
            "Secret must be 64 lowercase hex characters"
        )
        expect(await readTask(task.id)).toMatchObject({state: "Challenged", dispute: {stage: "Seeding", committee: []}})

        // The worker said nothing: the draw goes on without its part.
        const revealed = await must(carol, escrow, {
            Action: "Reveal-Seed",
            "Task-Id": task.id,
            "Challenge-Id": challengeId,
            Secret: secret.secret
        })
        const notice = revealed.find({Action: "Reveal-Seed-Notice"})
        expect(notice.tags["Worker-Seed"]).toBeUndefined()
        const committee = notice.tags.Referees!.split(",")
        expect(committee).toEqual(
            revealedCommittee(candidatesOf(views, [task.worker.address, carol.address, alice.address]), 3, secret.secret, null, challengeId)
        )
        expect(revealed.filter({Action: "Referee-Request"}).map((m) => m.target)).toEqual(committee)
        expect(errorOf(await reveal(carol, task.id, challengeId, secret.secret), "Reveal-Seed")).toBe(
            `The committee of challenge ${challengeId} is drawn already`
        )
        expect(errorOf(await seedDispute(task.worker, task.id, challengeId), "Dispute-Seed")).toBe(
            `The committee of challenge ${challengeId} is drawn already`
        )

        const [m1, m2] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, task.id, "Valid")
        expect((await vote(m2!, task.id, "Valid")).find({Action: "Challenge-Resolved"}).tags.Verdict).toBe("Valid")
        expect((await readTask(task.id)).state).toBe("Settled")
        await configureEscrow({"Seed-Timeout": "120000"})
        await expectConserved()
    })

    it("lets a challenge whose secret is never revealed lapse: the bond goes to the treasury, the window reopens and another challenge may follow", async () => {
        // Deadlines that leave a loaded machine time: the worker's Dispute-Seed must beat the seed's, and the window
        // given back after the lapse must outlast the Settle that follows it (the test sleeps only past the reveal's).
        const seedTimeout = 20_000
        await configureEscrow({"Seed-Timeout": String(seedTimeout), "Reveal-Timeout": "2000", "Challenge-Window": "600000"})
        const task = await completedTask()
        const carolTokens = await tokenBalance(carol.address)
        const treasury = BigInt((await escrowRead({Action: "Info"})).tags.Treasury!)
        const challenged = await challengeByTransfer(carol, task.id, "1000", "lapse")
        const accepted = challenged.find({Action: "Challenge-Accepted", "X-Reference": "lapse"})
        const challengeId = accepted.tags["Challenge-Id"]!
        await must(task.worker, escrow, {Action: "Dispute-Seed", "Task-Id": task.id, "Challenge-Id": challengeId, Seed: workerSeed()})
        const frozen = await readTask(task.id)
        expect(frozen.dispute).toMatchObject({stage: "Seeding", workerSeed: expect.any(String)})
        expect((await escrowRead({Action: "Info"})).tags.Bonds).toBe("1000")

        await passDeadline(accepted.tags["Reveal-Deadline"])
        const upkept = await ao.send(stranger, escrow, {Action: "Settle"})
        const lapsed = upkept.filter({Action: "Challenge-Lapsed"})
        expect(lapsed.map((m) => m.target)).toEqual([carol.address, task.worker.address, alice.address])
        const challengedAt = Number(accepted.tags["Seed-Deadline"]) - seedTimeout
        const reopened = Number(task.challengeDeadline) + Number(accepted.tags["Reveal-Deadline"]) - challengedAt
        expect(lapsed[0]!.tags).toMatchObject({
            "Task-Id": task.id,
            "Challenge-Id": challengeId,
            Bond: "1000",
            "X-Reference": "lapse",
            "Reveal-Deadline": accepted.tags["Reveal-Deadline"],
            "Challenge-Deadline": String(reopened)
        })
        expect(lapsed[2]!.tags["X-Reference"]).toBe("job")
        // Not settled: the time it was frozen is given back to the window. (Settle also settles earlier tests' tasks whose windows closed.)
        expect(upkept.filter({Action: "Task-Settled", "Task-Id": task.id})).toEqual([])
        const after = await readTask(task.id)
        expect(after).toMatchObject({state: "Completed", challengeDeadline: reopened, lapsed: [{id: challengeId, stage: "Lapsed"}]})
        expect(after.dispute).toBeUndefined()
        // The bond is lost: neither refunded nor paid to anyone but the treasury.
        expect(upkept.filter({Action: "Transfer", Recipient: carol.address})).toEqual([])
        expect(await tokenBalance(carol.address)).toBe(carolTokens - 1000n)
        expect((await escrowRead({Action: "Info"})).tags).toMatchObject({Bonds: "0", Treasury: String(treasury + 1000n)})
        expect(errorOf(await reveal(carol, task.id, challengeId, challengeSecret().secret), "Reveal-Seed")).toBe(
            `Task ${task.id} is not challenged`
        )
        await expectConserved()

        // Open again: another challenge goes the whole way.
        await configureEscrow({"Seed-Timeout": "120000", "Reveal-Timeout": "120000", "Challenge-Window": "60000"})
        const again = await openDispute(carol, task)
        expect(again.challengeId).not.toBe(challengeId)
        const [m1, m2] = again.committee.map((a) => byAddress.get(a)!)
        await vote(m1!, task.id, "Valid")
        await vote(m2!, task.id, "Valid")
        expect(await readTask(task.id)).toMatchObject({
            state: "Settled",
            dispute: {id: again.challengeId, verdict: "Valid"},
            lapsed: [{id: challengeId}]
        })
        await expectConserved()
    })

    it("slashes at least the fee over Audit-Rate, with Slash-Amount as the floor, and assigns tasks only to workers staked for it", async () => {
        // 10% of results audited: a fake result of fee 87 must cost at least 870.
        await configureEscrow({"Slash-Amount": "100", "Audit-Rate": "100000"})
        const task = await completedTask("eighty-seven")
        expect((await readTask(task.id)).fee).toBe("87")
        const stakeBefore = BigInt((await workerViews()).find((v) => v.address === task.worker.address)!.stake)
        expect(stakeBefore).toBeGreaterThan(870n)
        const {committee} = await openDispute(carol, task)
        const [m1, m2] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, task.id, "Invalid")
        const decided = await vote(m2!, task.id, "Invalid")
        expect(decided.find({Action: "Slash"}).tags).toMatchObject({Worker: task.worker.address, Quantity: "870", "Task-Id": task.id})
        expect(decided.find({Action: "Slash-Notice"}).tags.Quantity).toBe("870")
        // 870: 100 to each majority referee, half of the remaining 670 to the challenger, the rest to the treasury.
        expect(decided.find({Action: "Slash-Distributed"}).tags).toMatchObject({
            Proceeds: "870",
            "Referee-Fee": "100",
            Reward: "335",
            Treasury: "335"
        })
        expect(await readTask(task.id)).toMatchObject({
            state: "Invalidated",
            dispute: {slashRequested: "870", slashed: "870", proceeds: "870"}
        })
        expect(BigInt((await workerViews()).find((v) => v.address === task.worker.address)!.stake)).toBe(stakeBefore - 870n)
        await expectConserved()

        // At 2% a quote of 84 (40 tokens at 2000 per 1000, 5% to the owner) needs a stake of 4200.
        await configureEscrow({"Audit-Rate": "20000"})
        const views = await workerViews()
        for (let i = 0; i < 4; i++) {
            const assigned = (
                await must(alice, escrow, {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500"}, "Hi")
            ).find({Action: "Task-Assigned"}).target
            expect(BigInt(views.find((v) => v.address === assigned)!.stake)).toBeGreaterThanOrEqual(4200n)
        }
        // At 0.1% it needs 84000: nobody stakes that much.
        await configureEscrow({"Audit-Rate": "1000"})
        expect(
            errorOf(await ao.send(alice, escrow, {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500"}, "Hi"), "Infer")
        ).toBe(`No worker serving model ${model.name} within Max-Fee stakes the slash its quote needs at Audit-Rate 1000 ppm`)
        await configureEscrow({"Slash-Amount": "all", "Audit-Rate": "1000000"})
        await expectConserved()
    })
})
