import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {DisputeWorld} from "../harness/disputeWorld.ts"
import {expectedCommittee} from "../harness/draw.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

/*
 * Challenges, referees and slashing (docs/protocol.md, escrow "Disputes") with
 * the real token, registry and escrow wired to each other. Workers and
 * referees are wallets: they stake, register and answer tasks and referee
 * requests. One deployment walks through the paths in order; each test starts
 * from the state the previous ones left, and ends by checking that no token
 * was created or lost.
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
    reputation: {completed: number, strikes: number, slashed: number}
    unstaking: {amount: string}
}

interface Dispute {
    id: string
    challenger: string
    bond: string
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
    dispute?: Dispute
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
    return must(worker, escrow, {
        Action: "Task-Result", "Task-Id": taskId, "Input-Tokens": "17", "Output-Tokens": "33",
        "Receipt-Tx": fakeId(`receipt-${taskId}`), "Receipt-Hash": hex(`receipt-${taskId}`)
    }, output)
}

/** A task of alice's, paid from her deposit, answered by its worker. */
async function completedTask(output = "forty-two") {
    const trace = await must(alice, escrow, {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "500", "X-Reference": "job"}, "What is six times seven?")
    const id = trace.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
    const worker = byAddress.get(trace.find({Action: "Task-Assigned"}).target)!
    const done = await result(worker, id, output)
    return {id, worker, challengeDeadline: done.find({Action: "Infer-Result"}).tags["Challenge-Deadline"]!}
}

const challengeTags = (id: string, position = "3", extra: TagValues = {}): TagValues =>
    ({"Task-Id": id, Position: position, "Evidence-Tx": fakeId(`evidence-${id}`), ...extra})

/** A challenge paid from `who`'s escrow deposit. */
const challenge = (who: Actor, id: string, bond = "1000", extra: TagValues = {}) =>
    ao.send(who, escrow, {Action: "Challenge", Bond: bond, ...challengeTags(id, "3", extra)})

/** A challenge whose bond comes with a token transfer (`X-Action=Challenge`). */
const challengeByTransfer = (who: Actor, id: string, quantity: string, reference = "challenge") =>
    ao.send(who, token, {
        Action: "Transfer", Recipient: escrow, Quantity: quantity, "X-Action": "Challenge", "X-Task-Id": id,
        "X-Position": "3", "X-Evidence-Tx": fakeId(`evidence-${id}`), "X-Reference": reference
    })

const vote = (who: Actor, id: string, verdict: string) =>
    ao.send(who, escrow, {Action: "Referee-Verdict", "Task-Id": id, Verdict: verdict, "Report-Tx": fakeId(`report-${who.name}-${id}`)})

/** The committee the escrow must have drawn, recomputed from the registry's records. */
function recomputeCommittee(views: WorkerView[], exclude: string[], challengeId: string) {
    const candidates = views.filter((v) => v.eligible && !exclude.includes(v.address))
    return expectedCommittee(candidates, 3, `${challengeId}:referee`)
}

const expectConserved = () => world.expectConserved()

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, alice, bob, carol, modelOwner, stranger] = await Promise.all([
        ao.actor("owner"), ao.actor("alice"), ao.actor("bob"), ao.actor("carol"), ao.actor("model-owner"), ao.actor("stranger")
    ])
    pool = await Promise.all(["w1", "w2", "w3", "w4", "w5", "w6", "w7"].map((name) => ao.actor(name)))
    for (const w of pool) byAddress.set(w.address, w)

    world = await DisputeWorld.deploy(ao, owner, {
        registry: {"Min-Stake": String(MIN_STAKE), "Unstake-Cooldown": "3600000", "Heartbeat-Timeout": "3600000"},
        escrow: {"Challenge-Window": "60000", "Task-Timeout": "3600000", "Referee-Timeout": "120000"}
    })
    ;({token, registry, escrow} = world)
    for (const who of [alice, bob, carol, ...pool]) await world.mint(who, MINTED_EACH)
    await world.registerModel(modelOwner, model)
    await world.registerWorkers(model, pool, pool.map((_, i) => STAKES[i] ?? String(MIN_STAKE)))
    await must(pool[6]!, registry, {Action: "Unstake", Quantity: "1"})
    await world.deposit(alice, "20000")
    await world.deposit(carol, "10000")
})

describe("escrow disputes: challenge, referees, slash", () => {
    let invalidated: string

    it("starts with the documented dispute parameters and a conserved state", async () => {
        const info = await escrowRead({Action: "Info"})
        expect(info.tags).toMatchObject({"Challenge-Bond": "1000", "Referee-Count": "3", "Referee-Fee": "100", "Referee-Timeout": "120000",
            "Slash-Amount": "all", "Challenger-Share": "5000", Bonds: "0", Treasury: "0"})
        const views = await workerViews()
        expect(views.filter((v) => v.eligible)).toHaveLength(6)
        expect(views.find((v) => v.address === pool[6]!.address)).toMatchObject({eligible: false, stake: "999"})
        await expectConserved()
    })

    it("judges a dishonest result Invalid by majority: the worker is slashed, the requester refunded, challenger and majority paid, the minority struck", async () => {
        const bobBefore = await tokenBalance(bob.address)
        const call = await must(bob, token, {
            Action: "Transfer", Recipient: escrow, Quantity: "500", "X-Action": "Infer", "X-Model": model.id,
            "X-Max-Tokens": "40", "X-Prompt": "What is two plus two?", "X-Reference": "dishonest"
        })
        const id = call.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
        const worker = byAddress.get(call.find({Action: "Task-Assigned"}).target)!
        await result(worker, id, "five")
        // The challenger is itself a worker: it may challenge, but not judge.
        const challenger = pool.find((w) => w !== worker && w !== pool[6])!
        const views = await workerViews()
        const slashedStake = BigInt(views.find((v) => v.address === worker.address)!.stake)
        const challengerBefore = await tokenBalance(challenger.address)

        const trace = await challengeByTransfer(challenger, id, "1200", "ch-1")
        const accepted = trace.find({Action: "Challenge-Accepted", "X-Reference": "ch-1"})
        expect(accepted.target).toBe(challenger.address)
        expect(accepted.tags).toMatchObject({"Task-Id": id, Challenger: challenger.address, Bond: "1200", Quorum: "2"})
        const challengeId = accepted.tags["Challenge-Id"]!
        const committee = accepted.tags.Referees!.split(",")
        expect(committee).toEqual(recomputeCommittee(views, [worker.address, challenger.address, bob.address], challengeId))
        for (const excluded of [worker, challenger, pool[6]!]) expect(committee).not.toContain(excluded.address)
        expect(trace.filter({Action: "Challenge-Accepted"}).map((m) => m.target).sort())
            .toEqual([challenger.address, worker.address, bob.address].sort())
        const requests = trace.filter({Action: "Referee-Request"})
        expect(requests.map((m) => m.target)).toEqual(committee)
        expect(requests[0]!.tags).toMatchObject({
            "Task-Id": id, "Challenge-Id": challengeId, Worker: worker.address, Challenger: challenger.address, Model: model.id,
            "Model-SHA256": model.sha256, "Receipt-Tx": fakeId(`receipt-${id}`), "Receipt-Hash": hex(`receipt-${id}`),
            "Input-Tokens": "17", "Output-Tokens": "33", Position: "3", "Evidence-Tx": fakeId(`evidence-${id}`),
            Deadline: accepted.tags["Referee-Deadline"], "Max-Tokens": "40", Temperature: "0", "Top-K": "40", "Top-P": "1",
            Seed: "0", Format: "text", "Prompt-Message": id
        })
        expect(requests[0]!.data).toBe("five")

        // Frozen: nothing settles, the bond is held.
        expect(await readTask(id)).toMatchObject({state: "Challenged", dispute: {challenger: challenger.address, bond: "1200", committee}})
        expect((await escrowBalance(challenger.address)).Bonded).toBe("1200")
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": id}), "Settle")).toMatch(/is challenged/)
        await expectConserved()

        // Only committee members vote, each once.
        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        expect(errorOf(await vote(stranger, id, "Invalid"), "Referee-Verdict")).toMatch(/Not a referee of task/)
        expect(errorOf(await vote(worker, id, "Valid"), "Referee-Verdict")).toMatch(/Not a referee of task/)
        expect(errorOf(await vote(m1!, id, "Maybe"), "Referee-Verdict")).toMatch(/Verdict must be one of Valid, Invalid/)
        const strikesBefore = (await workerViews()).find((v) => v.address === m1!.address)!.reputation.strikes
        expect((await vote(m1!, id, "Valid")).find({Action: "Referee-Verdict-Notice"}).tags)
            .toMatchObject({"Task-Id": id, Verdict: "Valid", "Valid-Votes": "1", "Invalid-Votes": "0"})
        await vote(m2!, id, "Invalid")
        expect(errorOf(await vote(m2!, id, "Valid"), "Referee-Verdict")).toMatch(/Already voted on task/)
        const [m2Before, m3Before] = [await available(m2!), await available(m3!)]

        const decided = await vote(m3!, id, "Invalid")
        const resolved = decided.find({Action: "Challenge-Resolved", "X-Reference": "ch-1"})
        expect(resolved.target).toBe(challenger.address)
        expect(resolved.tags).toMatchObject({Verdict: "Invalid", Resolution: "Quorum", "Valid-Votes": "1", "Invalid-Votes": "2",
            Majority: `${m2!.address},${m3!.address}`, Struck: m1!.address, Refund: "500"})
        // The requester gets everything back, by transfer as it paid.
        expect(decided.find({Action: "Infer-Refunded"}).tags).toMatchObject({"Task-Id": id, Refund: "500", "X-Reference": "dishonest"})
        expect(decided.find({Action: "Transfer", Recipient: bob.address}).tags.Quantity).toBe("500")
        expect(decided.find({Action: "Transfer", Recipient: challenger.address, "X-Challenge-Payout": "Bond"}).tags.Quantity).toBe("1200")
        // The worker's whole stake is slashed to the escrow...
        expect(decided.find({Action: "Slash"})).toMatchObject({target: registry,
            tags: {Worker: worker.address, Quantity: "9".repeat(38), "Task-Id": id, Recipient: escrow}})
        expect(decided.find({Action: "Slash-Notice"}).tags).toMatchObject({Worker: worker.address, Quantity: String(slashedStake)})
        expect(decided.find({Action: "Credit-Notice", "X-Slash-Task": id})).toMatchObject({target: escrow,
            tags: {Sender: registry, Quantity: String(slashedStake), "X-Slash-Worker": worker.address}})
        // ...and shared when it arrives: 100 to each majority referee, half the rest to the challenger.
        const rest = slashedStake - 200n
        const reward = rest / 2n
        expect(decided.find({Action: "Slash-Distributed", "X-Reference": "ch-1"}).tags).toMatchObject({
            Proceeds: String(slashedStake), Reward: String(reward), "Referee-Fee": "100", Treasury: String(rest - reward)})
        expect(decided.filter({Action: "Slash-Distributed"}).map((m) => m.target)).toEqual([challenger.address, m2!.address, m3!.address])
        expect(decided.find({Action: "Transfer", Recipient: challenger.address, "X-Challenge-Payout": "Reward"}).tags.Quantity).toBe(String(reward))
        expect(decided.filter({Action: "Record-Outcome"}).map((m) => [m.tags.Worker, m.tags.Outcome])).toEqual([[m1!.address, "Strike"]])
        expect(decided.filter({Action: "Task-Settled"})).toEqual([])

        const after = await workerViews()
        expect(after.find((v) => v.address === worker.address)).toMatchObject({stake: "0", eligible: false, reputation: {slashed: 1}})
        expect(after.find((v) => v.address === m1!.address)!.reputation.strikes).toBe(strikesBefore + 1)
        expect(await tokenBalance(bob.address)).toBe(bobBefore)
        expect(await tokenBalance(challenger.address)).toBe(challengerBefore + reward)
        expect([await available(m2!), await available(m3!)]).toEqual([m2Before + 100n, m3Before + 100n])
        expect((await escrowRead({Action: "Info"})).tags.Treasury).toBe(String(rest - reward))
        expect(await readTask(id)).toMatchObject({state: "Invalidated", refund: "500",
            dispute: {verdict: "Invalid", proceeds: String(slashedStake), reward: String(reward), treasury: String(rest - reward)}})
        expect(errorOf(await vote(m1!, id, "Invalid"), "Referee-Verdict")).toMatch(/Already voted/)
        invalidated = id
        await expectConserved()
    })

    it("upholds a frivolous challenge: the bond pays the majority referees and the worker, and the task settles", async () => {
        const task = await completedTask()
        const before = {alice: await available(alice), carol: await available(carol), worker: await available(task.worker),
            owner: await available(modelOwner)}
        const views = await workerViews()
        const trace = await challenge(carol, task.id, "1000", {"X-Reference": "ch-2"})
        const accepted = trace.find({Action: "Challenge-Accepted", "X-Reference": "ch-2"})
        // A challenge from the deposit: its own message id seeds the draw.
        expect(accepted.tags["Challenge-Id"]).toBe(trace.id)
        const committee = accepted.tags.Referees!.split(",")
        expect(committee).toEqual(recomputeCommittee(views, [task.worker.address, carol.address, alice.address], trace.id))
        expect(await escrowBalance(carol.address)).toMatchObject({Balance: String(before.carol - 1000n), Bonded: "1000"})
        expect((await escrowRead({Action: "Info"})).tags.Bonds).toBe("1000")
        await expectConserved()

        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        const paidBefore = [await available(m1!), await available(m2!)]
        await vote(m1!, task.id, "Valid")
        const decided = await vote(m2!, task.id, "Valid")
        expect(decided.find({Action: "Challenge-Resolved", "X-Reference": "ch-2"}).tags).toMatchObject({
            Verdict: "Valid", Resolution: "Quorum", Majority: `${m1!.address},${m2!.address}`, Struck: "", "Referee-Fee": "100", "Worker-Share": "800"})
        // worker: ceil((1000 * 17 + 2000 * 33) / 1000) = 83; owner: floor(83 * 5%) = 4.
        expect(decided.find({Action: "Task-Settled", "X-Reference": "job"}).tags).toMatchObject({Fee: "87", "Worker-Fee": "83", "Owner-Fee": "4", Refund: "413"})
        expect(decided.filter({Action: "Record-Outcome"}).map((m) => [m.tags.Worker, m.tags.Outcome])).toEqual([[task.worker.address, "Completed"]])
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
        const accepted = (await challenge(carol, task.id)).find({Action: "Challenge-Accepted", Challenger: carol.address})
        const committee = accepted.tags.Referees!.split(",")
        const [m1, m2, m3] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, task.id, "Valid")

        await passDeadline(accepted.tags["Referee-Deadline"])
        const upkept = await ao.send(stranger, escrow, {Action: "Settle"})
        expect(upkept.find({Action: "Challenge-Resolved", Verdict: "Valid"}).tags).toMatchObject({
            Resolution: "Deadline", "Valid-Votes": "1", "Invalid-Votes": "0", Majority: m1!.address, Struck: `${m2!.address},${m3!.address}`})
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
        const accepted = (await challenge(carol, task.id)).find({Action: "Challenge-Accepted", Challenger: carol.address})
        const committee = accepted.tags.Referees!.split(",")
        expect(await available(carol)).toBe(carolBefore - 1000n)

        await passDeadline(accepted.tags["Referee-Deadline"])
        const upkept = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": task.id})
        expect(upkept.find({Action: "Settle-Notice"}).tags["Task-Id"]).toBe(task.id)
        const resolved = upkept.filter({Action: "Challenge-Resolved", Verdict: "Undecided"})
        expect(resolved.map((m) => m.target).sort()).toEqual([carol.address, task.worker.address, alice.address, ...committee].sort())
        expect(resolved[0]!.tags).toMatchObject({Resolution: "Deadline", "Valid-Votes": "0", "Invalid-Votes": "0", Majority: "", Struck: committee.join(",")})
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
        expect(small.find({Action: "Transfer", Recipient: carol.address}).tags).toMatchObject({Quantity: "999", "X-Refund-Reason": "Bond 999 is below Challenge-Bond 1000"})
        expect(errorOf(await challenge(carol, pendingId, "999"), "Challenge")).toBe("Bond 999 is below Challenge-Bond 1000")
        expect(errorOf(await challenge(carol, pendingId, "0"), "Challenge")).toMatch(/Bond must be greater than 0/)
        expect(errorOf(await challenge(stranger, pendingId), "Challenge")).toMatch(/Bond 1000 is above the available balance 0/)
        expect(errorOf(await challenge(carol, pendingId, "1000", {Position: "34"}), "Challenge")).toBe("Position 34 is above Output-Tokens 33")
        expect(errorOf(await challenge(carol, pendingId, "1000", {"Evidence-Tx": "short"}), "Challenge")).toMatch(/Evidence-Tx must be a 43-character id/)
        expect(errorOf(await vote(carol, pendingId, "Invalid"), "Referee-Verdict")).toMatch(/is not challenged/)

        expect(await tokenBalance(carol.address)).toBe(carolTokens)
        expect(await available(carol)).toBe(carolDeposit)
        expect((await readTask(pendingId)).state).toBe("Completed")
        await expectConserved()
    })

    it("accepts slash proceeds only from the registry through the configured token", async () => {
        const forged = await ao.send(stranger, escrow, {Action: "Credit-Notice", Sender: registry, Quantity: "5000", "X-Slash-Task": invalidated})
        expect(errorOf(forged, "Credit-Notice")).toMatch(/configured token/)
        const fromWallet = await ao.send(carol, token, {Action: "Transfer", Recipient: escrow, Quantity: "50", "X-Slash-Task": invalidated})
        expect(errorOf(fromWallet, "Credit-Notice")).toBe("Slash proceeds must come from the registry")
        expect(fromWallet.find({Action: "Transfer", Recipient: carol.address}).tags.Quantity).toBe("50")
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Slash-Notice", "Task-Id": invalidated, Quantity: "0"}), "Slash-Notice"))
            .toMatch(/Only the registry/)
        expect((await readTask(invalidated)).dispute).toMatchObject({proceeds: expect.any(String)})
        await expectConserved()
    })
})
