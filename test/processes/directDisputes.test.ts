import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {challengeSecret, DisputeWorld, workerSeed} from "../harness/disputeWorld.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

/*
 * Challenges of direct-mode receipts (docs/protocol.md, escrow "Disputes" and
 * "Channels"): a request paid by a channel voucher is disputed by Channel,
 * Request-Id, Receipt-Hash, Batch-Tx and Fee, through the same commit-reveal,
 * committee, verdicts and slash as a task. One deployment walks through the
 * paths in order; each test ends by checking that no token was created or lost.
 */

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const model = {id: fakeId("direct-model"), sha256: hex("direct-model"), name: "direct-toy"}
const MINTED_EACH = 50_000n

interface DirectTask {
    id: string
    state: string
    direct: boolean
    channel: string
    requester: string
    worker: string
    fee: string
    locked: string
    refund?: string
    receiptTx: string
    receiptHash: string
    challengeDeadline: number
    dispute?: {id: string; stage: string; verdict?: string; proceeds?: string; reward?: string; treasury?: string}
    lapsed?: Array<{id: string}>
}

let ao: MemoryAo
let world: DisputeWorld
let owner: Actor, alice: Actor, carol: Actor, modelOwner: Actor
let pool: Actor[]
const byAddress = new Map<string, Actor>()

const errorOf = (trace: Trace, action: string) => trace.find({Action: `${action}-Error`}).tags.Error
const readTask = async (id: string) => JSON.parse((await world.escrowRead({Action: "Task", "Task-Id": id})).data) as DirectTask
const vote = (who: Actor, id: string, verdict: string) =>
    ao.send(who, world.escrow, {
        Action: "Referee-Verdict",
        "Task-Id": id,
        Verdict: verdict,
        "Report-Tx": fakeId(`report-${who.name}-${id}`)
    })

/** alice's channel with `worker`, from her deposit; the first voucher (signed by her) pays `paid`. */
async function redeemedChannel(worker: Actor, paid: string, tags: TagValues = {Model: model.id}) {
    const opened = await ao.must(alice, world.escrow, {Action: "Open-Channel", Quantity: "2000", Worker: worker.address, ...tags})
    const channel = opened.find({Action: "Channel-Opened", Worker: worker.address}).tags.Channel!
    if (paid !== "0")
        await ao.must(alice, world.escrow, {
            Action: "Redeem-Voucher",
            Channel: channel,
            Cumulative: paid,
            Nonce: "1",
            "Receipts-Root": hex(`root-${channel}`)
        })
    return channel
}

const directTags = (channel: string, request: string, fee: string, extra: TagValues = {}): TagValues => ({
    Channel: channel,
    "Request-Id": fakeId(`request-${request}`),
    "Receipt-Hash": hex(`receipt-${request}`),
    "Batch-Tx": fakeId(`batch-${channel}`),
    Fee: fee,
    Position: "2",
    "Evidence-Tx": fakeId(`evidence-${request}`),
    "Seed-Commit": challengeSecret().seedCommit,
    ...extra
})

/** The worker's seed and the challenger's reveal of an accepted challenge; returns the Reveal-Seed's trace and the committee. */
async function seedAndReveal(worker: Actor, challenger: Actor, requestId: string, accepted: Trace["messages"][number], secret: string) {
    const challengeId = accepted.tags["Challenge-Id"]!
    await ao.must(worker, world.escrow, {Action: "Dispute-Seed", "Task-Id": requestId, "Challenge-Id": challengeId, Seed: workerSeed()})
    const revealed = await ao.must(challenger, world.escrow, {
        Action: "Reveal-Seed",
        "Task-Id": requestId,
        "Challenge-Id": challengeId,
        Secret: secret
    })
    return {revealed, committee: revealed.find({Action: "Reveal-Seed-Notice"}).tags.Referees!.split(",")}
}

/** A direct challenge whose bond comes with a token transfer (`X-Action=Challenge`, the tags as `X-`). */
function challengeByTransfer(who: Actor, tags: TagValues, quantity = "1000") {
    const forwarded = Object.fromEntries(Object.entries(tags).map(([k, v]) => [`X-${k}`, v]))
    return ao.send(who, world.token, {
        Action: "Transfer",
        Recipient: world.escrow,
        Quantity: quantity,
        "X-Action": "Challenge",
        ...forwarded
    })
}

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, alice, carol, modelOwner] = await Promise.all([
        ao.actor("owner"),
        ao.actor("alice"),
        ao.actor("carol"),
        ao.actor("model-owner")
    ])
    pool = await Promise.all(["w1", "w2", "w3", "w4", "w5", "w6"].map((name) => ao.actor(name)))
    for (const w of pool) byAddress.set(w.address, w)
    world = await DisputeWorld.deploy(ao, owner, {
        registry: {"Min-Stake": "1000", "Unstake-Cooldown": "3600000", "Heartbeat-Timeout": "3600000"},
        escrow: {"Challenge-Window": "60000", "Task-Timeout": "3600000", "Referee-Timeout": "120000"}
    })
    for (const who of [alice, carol, ...pool]) await world.mint(who, MINTED_EACH)
    await world.registerModel(modelOwner, model)
    await world.registerWorkers(model, pool, ["2000", "3000", "4000", "5000", "6000", "7000"])
    await world.deposit(alice, "20000")
    await world.deposit(carol, "10000")
})

describe("escrow disputes of direct-mode receipts", () => {
    let upheld: {channel: string; tags: TagValues}

    it("judges a direct receipt Invalid: the worker is slashed, the channel's owner gets Fee back, challenger and majority paid", async () => {
        const worker = pool[0]!
        const channel = await redeemedChannel(worker, "300")
        // The worker got the 300 redeemed less the owner fee; it withdraws 200, leaving less than Fee to refund from.
        await ao.must(worker, world.escrow, {Action: "Withdraw", Quantity: "200"})
        const left = await world.available(worker)
        expect(left).toBeLessThan(250n)
        const aliceBefore = await world.available(alice)
        const carolTokens = await world.tokenBalance(carol.address)
        const secret = challengeSecret()
        const tags = directTags(channel, "bad", "250", {Reference: "direct-1", "Seed-Commit": secret.seedCommit})
        const requestId = String(tags["Request-Id"])

        const trace = await challengeByTransfer(carol, tags, "1200")
        const accepted = trace.find({Action: "Challenge-Accepted", "X-Reference": "direct-1"})
        expect(accepted.tags).toMatchObject({
            "Task-Id": requestId,
            Worker: worker.address,
            Challenger: carol.address,
            Bond: "1200",
            Quorum: "2",
            "Seed-Commit": secret.seedCommit
        })
        expect(
            trace
                .filter({Action: "Challenge-Accepted"})
                .map((m) => m.target)
                .sort()
        ).toEqual([carol.address, worker.address, alice.address].sort())
        expect(await readTask(requestId)).toMatchObject({state: "Challenged", dispute: {stage: "Seeding"}})
        const {revealed, committee} = await seedAndReveal(worker, carol, requestId, accepted, secret.secret)
        for (const excluded of [worker.address, alice.address, carol.address]) expect(committee).not.toContain(excluded)
        const requests = revealed.filter({Action: "Referee-Request"})
        expect(requests.map((m) => m.target)).toEqual(committee)
        expect(requests[0]!.tags).toMatchObject({
            "Task-Id": requestId,
            Worker: worker.address,
            Model: model.id,
            "Model-SHA256": model.sha256,
            Channel: channel,
            "Receipt-Tx": tags["Batch-Tx"],
            "Receipt-Hash": tags["Receipt-Hash"],
            Fee: "250",
            Position: "2"
        })
        expect(requests[0]!.tags["Input-Tokens"]).toBeUndefined()
        expect(await readTask(requestId)).toMatchObject({
            state: "Challenged",
            direct: true,
            channel,
            requester: alice.address,
            worker: worker.address,
            fee: "250",
            locked: "0",
            receiptTx: tags["Batch-Tx"],
            receiptHash: tags["Receipt-Hash"]
        })
        await world.expectConserved()

        const [m1, m2] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, requestId, "Invalid")
        const decided = await vote(m2!, requestId, "Invalid")
        expect(decided.find({Action: "Challenge-Resolved", "X-Reference": "direct-1"}).tags).toMatchObject({
            Verdict: "Invalid",
            Refund: String(left)
        })
        expect(decided.find({Action: "Slash"}).tags).toMatchObject({Worker: worker.address, "Task-Id": requestId})
        const proceeds = BigInt(decided.find({Action: "Slash-Notice"}).tags.Quantity!)
        expect(proceeds).toBe(2000n)
        // What the worker's balance lacked comes first out of the proceeds; the rest is shared as for a task.
        const owed = 250n - left
        const rest = proceeds - owed - 200n
        const reward = rest / 2n
        expect(decided.find({Action: "Slash-Distributed", "X-Reference": "direct-1"}).tags).toMatchObject({
            Proceeds: "2000",
            Refund: String(owed),
            Reward: String(reward),
            "Referee-Fee": "100",
            Treasury: String(rest - reward)
        })
        expect(decided.filter({Action: "Slash-Distributed"}).map((m) => m.target)).toContain(alice.address)
        expect(await world.available(alice)).toBe(aliceBefore + 250n)
        expect(await world.available(worker)).toBe(0n)
        expect(await world.tokenBalance(carol.address)).toBe(carolTokens + reward)
        expect(await readTask(requestId)).toMatchObject({
            state: "Invalidated",
            refund: "250",
            dispute: {verdict: "Invalid", proceeds: "2000"}
        })
        await world.expectConserved()
    })

    it("upholds a frivolous direct challenge: the bond pays the majority and the worker, nothing else moves", async () => {
        const worker = pool[1]!
        const channel = await redeemedChannel(worker, "400")
        const secret = challengeSecret()
        const tags = directTags(channel, "good", "100", {"Seed-Commit": secret.seedCommit})
        const requestId = String(tags["Request-Id"])
        const before = {
            alice: await world.available(alice),
            carol: await world.available(carol),
            worker: await world.available(worker),
            owner: await world.available(modelOwner)
        }
        const trace = await ao.must(carol, world.escrow, {Action: "Challenge", Bond: "1000", ...tags})
        const {committee} = await seedAndReveal(
            worker,
            carol,
            requestId,
            trace.find({Action: "Challenge-Accepted", Challenger: carol.address}),
            secret.secret
        )
        expect(await world.available(carol)).toBe(before.carol - 1000n)
        await world.expectConserved()

        const [m1, m2] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, requestId, "Valid")
        const decided = await vote(m2!, requestId, "Valid")
        expect(decided.find({Action: "Challenge-Resolved", Verdict: "Valid"}).tags).toMatchObject({
            "Referee-Fee": "100",
            "Worker-Share": "800"
        })
        expect(decided.find({Action: "Task-Settled"}).tags).toMatchObject({"Task-Id": requestId, Fee: "100", Refund: "0"})
        expect(decided.filter({Action: "Slash"})).toEqual([])
        expect(await world.available(worker)).toBe(before.worker + 800n)
        expect(await world.available(alice)).toBe(before.alice)
        expect(await world.available(modelOwner)).toBe(before.owner)
        expect(await world.available(carol)).toBe(before.carol - 1000n)
        expect((await readTask(requestId)).state).toBe("Settled")
        upheld = {channel, tags}
        await world.expectConserved()
    })

    it("refuses unfounded direct challenges, refunding the bond", async () => {
        const carolTokens = await world.tokenBalance(carol.address)
        const carolDeposit = await world.available(carol)
        const refused = async (tags: TagValues) => {
            const trace = await challengeByTransfer(carol, tags)
            expect(trace.find({Action: "Transfer", Recipient: carol.address}).tags.Quantity).toBe("1000")
            expect(errorOf(await ao.send(carol, world.escrow, {Action: "Challenge", Bond: "1000", ...tags}), "Challenge")).toBe(
                errorOf(trace, "Challenge")
            )
            return errorOf(trace, "Challenge")
        }
        const unknown = fakeId("no-such-channel")
        expect(await refused(directTags(unknown, "x", "10"))).toBe(`Unknown channel ${unknown}`)
        const unredeemed = await redeemedChannel(pool[2]!, "0")
        expect(await refused(directTags(unredeemed, "x", "10"))).toBe(`Channel ${unredeemed} has redeemed no voucher`)
        const modelless = await redeemedChannel(pool[2]!, "50", {})
        expect(await refused(directTags(modelless, "x", "10"))).toBe(
            `Channel ${modelless} names no model: its receipts cannot be challenged`
        )
        const {channel, tags} = upheld
        expect(await refused(directTags(channel, "y", "401"))).toBe(`Fee 401 is above what channel ${channel} has paid, 400`)
        expect(await refused(directTags(channel, "y", "0"))).toMatch(/Fee must be greater than 0/)
        expect(await refused({...tags})).toBe(`Request ${String(tags["Request-Id"])} is already challenged`)
        expect(await refused({...directTags(channel, "z", "10"), "Seed-Commit": "nope"})).toBe(
            "Seed-Commit must be 64 lowercase hex characters"
        )
        expect(await refused({...tags, "Request-Id": fakeId("another")})).toBe(
            `Receipt ${String(tags["Receipt-Hash"])} is already challenged (request ${String(tags["Request-Id"])})`
        )
        expect(await refused({...directTags(channel, "z", "10"), "Batch-Tx": "short"})).toBe("Batch-Tx must be a 43-character id")
        expect(await refused({...directTags(channel, "z", "10"), "Receipt-Hash": "AB"})).toBe(
            "Receipt-Hash must be 64 lowercase hex characters"
        )
        expect(await world.tokenBalance(carol.address)).toBe(carolTokens)
        expect(await world.available(carol)).toBe(carolDeposit)
        await world.expectConserved()
    })

    it("refuses a direct challenge once Challenge-Window has passed since the channel's Closes-At", async () => {
        await ao.must(owner, world.escrow, {Action: "Configure", "Challenge-Window": "1500", "Channel-Refund-Lock": "1"})
        const channel = await redeemedChannel(pool[3]!, "100")
        const closing = await ao.must(alice, world.escrow, {Action: "Close-Channel", Channel: channel})
        const closesAt = Number(closing.find({Action: "Channel-Closing", Channel: channel}).tags["Closes-At"])
        await sleep(Math.max(0, closesAt + 1500 - Date.now() + 50))
        const carolTokens = await world.tokenBalance(carol.address)
        const late = await challengeByTransfer(carol, directTags(channel, "late", "50"))
        expect(errorOf(late, "Challenge")).toBe(`Challenge window of channel ${channel} closed at ${closesAt + 1500}`)
        expect(late.find({Action: "Transfer", Recipient: carol.address}).tags.Quantity).toBe("1000")
        expect(await world.tokenBalance(carol.address)).toBe(carolTokens)
        await ao.must(owner, world.escrow, {Action: "Configure", "Challenge-Window": "60000", "Channel-Refund-Lock": "86400000"})
        await world.expectConserved()
    })

    it("lets an unrevealed direct challenge lapse, and challenges the request again with the new challenge's Batch-Tx and Fee", async () => {
        await ao.must(owner, world.escrow, {Action: "Configure", "Seed-Timeout": "3000", "Reveal-Timeout": "2000"})
        const worker = pool[4]!
        const channel = await redeemedChannel(worker, "300")
        const first = directTags(channel, "lapsing", "30", {"Batch-Tx": fakeId("a-bogus-batch")})
        const requestId = String(first["Request-Id"])
        const treasury = BigInt((await world.escrowRead({Action: "Info"})).tags.Treasury!)
        const accepted = (await ao.must(carol, world.escrow, {Action: "Challenge", Bond: "1000", ...first})).find({
            Action: "Challenge-Accepted",
            Challenger: carol.address
        })
        await sleep(Math.max(0, Number(accepted.tags["Reveal-Deadline"]) - Date.now() + 50))
        const upkept = await ao.send(carol, world.escrow, {Action: "Settle"})
        const lapsed = upkept.find({Action: "Challenge-Lapsed", "Task-Id": requestId})
        // The channel is open: its request gets a whole Challenge-Window after the Reveal-Deadline.
        expect(Number(lapsed.tags["Challenge-Deadline"])).toBeGreaterThanOrEqual(Number(accepted.tags["Reveal-Deadline"]) + 60000)
        expect(await readTask(requestId)).toMatchObject({
            state: "Completed",
            receiptTx: fakeId("a-bogus-batch"),
            lapsed: [{id: accepted.tags["Challenge-Id"]}]
        })
        expect((await world.escrowRead({Action: "Info"})).tags.Treasury).toBe(String(treasury + 1000n))
        await world.expectConserved()

        // Another challenger names the real batch and fee: the record takes them.
        await ao.must(owner, world.escrow, {Action: "Configure", "Seed-Timeout": "120000", "Reveal-Timeout": "120000"})
        const secret = challengeSecret()
        const second = directTags(channel, "lapsing", "40", {"Seed-Commit": secret.seedCommit})
        expect(
            errorOf(
                await ao.send(carol, world.escrow, {Action: "Challenge", Bond: "1000", ...second, "Receipt-Hash": hex("another-receipt")}),
                "Challenge"
            )
        ).toBe(`Request ${requestId} is already challenged`)
        const again = (await ao.must(carol, world.escrow, {Action: "Challenge", Bond: "1000", ...second})).find({
            Action: "Challenge-Accepted",
            Challenger: carol.address
        })
        expect(await readTask(requestId)).toMatchObject({
            state: "Challenged",
            fee: "40",
            receiptTx: second["Batch-Tx"],
            dispute: {id: again.tags["Challenge-Id"]}
        })
        const {revealed, committee} = await seedAndReveal(worker, carol, requestId, again, secret.secret)
        expect(revealed.find({Action: "Referee-Request"}).tags).toMatchObject({"Receipt-Tx": second["Batch-Tx"], Fee: "40"})
        const [m1, m2] = committee.map((a) => byAddress.get(a)!)
        await vote(m1!, requestId, "Valid")
        await vote(m2!, requestId, "Valid")
        expect((await readTask(requestId)).state).toBe("Settled")
        await world.expectConserved()
    })
})
