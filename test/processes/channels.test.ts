import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

/*
 * Prepaid channels of direct mode (docs/protocol.md, escrow "Channels") in the
 * real aos runtime, with the real token. The "registry" is a wallet sending
 * the Sync-* notices the real one would; workers are wallets. One deployment
 * walks through a channel's life in order; every test ends by checking that
 * no token was created or lost.
 *
 * A voucher is a Redeem-Voucher message signed by the channel's owner and
 * posted by whoever holds it, usually the worker; on AO msg.From is the
 * signer. Here the owner's wallet signs and sends it, which gives the escrow
 * exactly that message. The real path, a voucher signed with sdk/channel's
 * signVoucher and its raw bytes posted to the MU by the worker, is covered by
 * "vouchers on the devnet" in test/direct/voucher.test.ts.
 */

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const sum = (values: Iterable<string | bigint>) => [...values].reduce<bigint>((a, b) => a + BigInt(b), 0n)

/** Short enough to wait out, long enough for a redeem sent right after the Close-Channel. */
const REFUND_LOCK = 15_000
const MINTED_EACH = 100_000n

interface ChannelRecord {
    id: string
    owner: string
    worker: string
    model: string | null
    deposited: string
    paid: string
    nonce: number
    receiptsRoot: string | null
    redemptions: number
    state: "Open" | "Closing" | "Closed"
    openedAt: number
    closesAt: number | null
}

let ao: MemoryAo
let owner: Actor, registry: Actor, alice: Actor, bob: Actor, modelOwner: Actor, w1: Actor, w2: Actor, w3: Actor
let token: string, escrow: string
const m1 = {id: fakeId("channel-m1"), sha256: hex("channel-m1"), name: "channel-toy", ownerFee: 500, owner: ""}
const m2 = {id: fakeId("channel-m2"), sha256: hex("channel-m2"), name: "channel-other", ownerFee: 0, owner: ""}
let minted = 0n

const workerRecord = (worker: Actor, models: string[], eligible = true) => ({
    address: worker.address,
    models,
    priceInput: "1000",
    priceOutput: "2000",
    maxConcurrency: 4,
    stake: "1000",
    eligible,
    lastHeartbeat: Date.now(),
    heartbeatTimeout: 3_600_000,
    reputation: {completed: 0, strikes: 0, slashed: 0}
})

const must = (who: Actor, target: string, tags: TagValues, data?: string) => ao.must(who, target, tags, data)

const errorOf = (trace: Trace, action: string) => trace.find({Action: `${action}-Error`}).tags.Error
const tokenBalance = async (who: string) =>
    BigInt((await owner.client.read(token, {Action: "Balance", Recipient: who})).tags.Balance ?? "0")
const escrowBalance = async (who: Actor) =>
    BigInt((await owner.client.read(escrow, {Action: "Balance", Recipient: who.address})).tags.Balance ?? "0")
const readChannel = (id: string) => owner.client.readJson<ChannelRecord>(escrow, {Action: "Channel", Channel: id})
const listChannels = (filter: TagValues = {}) => owner.client.readJson<ChannelRecord[]>(escrow, {Action: "Channels", ...filter})

const openByTransfer = (who: Actor, quantity: string, tags: TagValues) =>
    ao.send(who, token, {Action: "Transfer", Recipient: escrow, Quantity: quantity, "X-Action": "Open-Channel", ...tags})
const openFromDeposit = (who: Actor, quantity: string, tags: TagValues) =>
    ao.send(who, escrow, {Action: "Open-Channel", Quantity: quantity, ...tags})
/** A voucher signed by `signer`: its wallet signs the message, so msg.From is the signer, as on AO. */
const redeem = (signer: Actor, channel: string, cumulative: string, nonce: number, root = hex(`root-${nonce}`)) =>
    ao.send(signer, escrow, {
        Action: "Redeem-Voucher",
        Channel: channel,
        Cumulative: cumulative,
        Nonce: String(nonce),
        "Receipts-Root": root
    })

/**
 * The conservation invariant, read from the processes: the token's supply is
 * what was minted and the sum of its balances; the escrow holds its balances
 * + what open tasks lock + bonds + what channels not Closed have not paid, and
 * that last part is also what the Channels read adds up to. Escrow reads are
 * real messages: a dry run would run upkeep hypothetically.
 */
async function expectConserved() {
    const list = JSON.parse((await must(owner, escrow, {Action: "Channels"})).find({Action: "Channels-Response"}).data) as ChannelRecord[]
    const info = (await must(owner, escrow, {Action: "Info"})).find({Action: "Info-Response"})
    const data = JSON.parse(info.data) as {balances: string; locked: string; bonds: string; channelFunds: string; channels: number}
    const unpaid = sum(list.filter((c) => c.state !== "Closed").map((c) => BigInt(c.deposited) - BigInt(c.paid)))
    expect({channelFunds: BigInt(data.channelFunds), channels: data.channels}).toEqual({channelFunds: unpaid, channels: list.length})
    expect(info.tags["Channel-Funds"]).toBe(data.channelFunds)
    expect(BigInt(info.tags.Liabilities!)).toBe(BigInt(data.balances) + BigInt(data.locked) + BigInt(data.bonds) + unpaid)
    expect(await tokenBalance(escrow)).toBe(BigInt(info.tags.Liabilities!))
    const balances = await owner.client.readJson<Record<string, string>>(token, {Action: "Balances"})
    const supply = BigInt((await owner.client.read(token, {Action: "Info"})).tags["Total-Supply"]!)
    expect(sum(Object.values(balances))).toBe(supply)
    expect(supply).toBe(minted)
}

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, registry, alice, bob, modelOwner, w1, w2, w3] = await Promise.all([
        ao.actor("owner"),
        ao.actor("registry"),
        ao.actor("alice"),
        ao.actor("bob"),
        ao.actor("model-owner"),
        ao.actor("w1"),
        ao.actor("w2"),
        ao.actor("w3")
    ])
    m1.owner = modelOwner.address
    m2.owner = modelOwner.address
    token = await ao.deploy(owner, "token")
    escrow = await ao.deploy(owner, "escrow")
    await must(owner, escrow, {Action: "Configure", Token: token, Registry: registry.address})
    for (const m of [m1, m2]) await must(registry, escrow, {Action: "Sync-Model"}, JSON.stringify(m))
    // w1 serves m1; w2 serves m1 but is not eligible; w3 serves only m2.
    for (const record of [workerRecord(w1, [m1.id]), workerRecord(w2, [m1.id], false), workerRecord(w3, [m2.id])])
        await must(registry, escrow, {Action: "Sync-Worker"}, JSON.stringify(record))
    for (const who of [alice, bob]) {
        await must(owner, token, {Action: "Mint", Quantity: String(MINTED_EACH), Recipient: who.address})
        minted += MINTED_EACH
    }
    await must(alice, token, {Action: "Transfer", Recipient: escrow, Quantity: "20000", "X-Action": "Deposit"})
    await must(bob, token, {Action: "Transfer", Recipient: escrow, Quantity: "5000", "X-Action": "Deposit"})
})

describe("escrow channels", () => {
    /** alice's channel with w1 for m1, opened by transfer; and her channel with w1 and no model, from her deposit. */
    let byTransfer: string, byDeposit: string

    it("has a 24 h Channel-Refund-Lock by default, set by Configure like the other parameters", async () => {
        const info = await owner.client.read(escrow, {Action: "Info"})
        expect(info.tags["Channel-Refund-Lock"]).toBe("86400000")
        expect(JSON.parse(info.data)).toMatchObject({channelRefundLock: 86400000, channelFunds: "0", channels: 0})
        expect(errorOf(await ao.send(owner, escrow, {Action: "Configure", "Channel-Refund-Lock": "0"}), "Configure")).toBe(
            "Channel-Refund-Lock must be at least 1"
        )
        expect(errorOf(await ao.send(alice, escrow, {Action: "Configure", "Channel-Refund-Lock": "1"}), "Configure")).toMatch(/owner/)
        const configured = await must(owner, escrow, {Action: "Configure", "Channel-Refund-Lock": String(REFUND_LOCK)})
        expect(configured.find({Action: "Configure-Notice"}).tags).toMatchObject({
            "Channel-Refund-Lock": String(REFUND_LOCK),
            "Challenge-Window": "3600000"
        })
    })

    it("opens a channel with a token transfer (X-Action=Open-Channel) and tells the worker", async () => {
        const trace = await must(alice, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "5000",
            "X-Action": "Open-Channel",
            "X-Worker": w1.address,
            "X-Model": m1.id,
            "X-Reference": "open-1"
        })
        const reply = trace.find({Action: "Channel-Opened", "X-Reference": "open-1"})
        expect(reply.target).toBe(alice.address)
        byTransfer = reply.tags.Channel!
        const tags = {Channel: byTransfer, Worker: w1.address, Model: m1.id, Deposited: "5000", Quantity: "5000"}
        expect(reply.tags).toMatchObject(tags)
        const notice = trace.filter({Action: "Channel-Opened"}).find((m) => m.target === w1.address)!
        expect(notice.tags).toMatchObject(tags)

        const record = await readChannel(byTransfer)
        expect(record).toEqual({
            id: byTransfer,
            owner: alice.address,
            worker: w1.address,
            model: m1.id,
            deposited: "5000",
            paid: "0",
            nonce: 0,
            receiptsRoot: null,
            redemptions: 0,
            state: "Open",
            openedAt: record.openedAt,
            closesAt: null
        })
        expect(record.openedAt).toBeGreaterThan(Date.now() - 60_000)
        expect(await escrowBalance(alice)).toBe(20000n)
        await expectConserved()
    })

    it("opens a channel from the escrow deposit (Action=Open-Channel); the channel id is the message id", async () => {
        const trace = await must(alice, escrow, {Action: "Open-Channel", Worker: w1.address, Quantity: "3000"})
        byDeposit = trace.id
        const reply = trace.find({Action: "Channel-Opened", Channel: byDeposit})
        expect(reply.target).toBe(alice.address)
        expect(reply.tags).toMatchObject({Worker: w1.address, Deposited: "3000", Quantity: "3000"})
        expect(reply.tags.Model).toBeUndefined()
        expect(
            trace
                .filter({Action: "Channel-Opened"})
                .map((m) => m.target)
                .sort()
        ).toEqual([alice.address, w1.address].sort())
        expect(await readChannel(byDeposit)).toMatchObject({model: null, deposited: "3000", state: "Open"})
        expect(await escrowBalance(alice)).toBe(17000n)
        await expectConserved()
    })

    it("tops up the owner's Open channel by transfer (X-Channel) and from the deposit (Channel)", async () => {
        const byToken = await must(alice, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "1000",
            "X-Action": "Open-Channel",
            "X-Channel": byTransfer
        })
        expect(byToken.find({Action: "Channel-Opened", Channel: byTransfer}).tags).toMatchObject({Deposited: "6000", Quantity: "1000"})
        const fromDeposit = await must(alice, escrow, {Action: "Open-Channel", Channel: byDeposit, Worker: w1.address, Quantity: "500"})
        expect(
            fromDeposit
                .filter({Action: "Channel-Opened", Channel: byDeposit})
                .map((m) => m.target)
                .sort()
        ).toEqual([alice.address, w1.address].sort())
        expect(fromDeposit.find({Action: "Channel-Opened", Channel: byDeposit}).tags).toMatchObject({Deposited: "3500", Quantity: "500"})
        expect(await escrowBalance(alice)).toBe(16500n)
        expect((await readChannel(byTransfer)).deposited).toBe("6000")
        await expectConserved()
    })

    it("refuses an Open-Channel the mirror does not back, or a top-up of someone else's channel, and refunds the tokens", async () => {
        const tokensBefore = await tokenBalance(alice.address)
        const cases: Array<[TagValues, string]> = [
            [{"X-Worker": bob.address}, `Worker ${bob.address} is not an eligible registered worker`],
            [{"X-Worker": w2.address}, `Worker ${w2.address} is not an eligible registered worker`],
            [{"X-Worker": w3.address, "X-Model": m1.id}, `Worker ${w3.address} does not serve model ${m1.name}`],
            [{"X-Worker": w1.address, "X-Model": fakeId("no-such-model")}, `Unknown model ${fakeId("no-such-model")}`],
            [{}, "Worker is required"]
        ]
        for (const [tags, error] of cases) {
            const trace = await openByTransfer(alice, "700", {...tags, "X-Reference": "bad-open"})
            const refused = trace.find({Action: "Open-Channel-Error"})
            expect(refused.target).toBe(alice.address)
            expect(refused.tags).toMatchObject({Error: error, "X-Reference": "bad-open"})
            const refund = trace.find({Action: "Transfer", Recipient: alice.address})
            expect(refund.target).toBe(token)
            expect(refund.tags).toMatchObject({Quantity: "700", "X-Refund-Reason": error})
            expect(trace.filter({Action: "Channel-Opened"})).toEqual([])
        }
        expect(await tokenBalance(alice.address)).toBe(tokensBefore)

        const bobTokens = await tokenBalance(bob.address)
        const notHis = await openByTransfer(bob, "300", {"X-Channel": byTransfer})
        expect(errorOf(notHis, "Open-Channel")).toBe(`Channel ${byTransfer} is not yours`)
        expect(notHis.find({Action: "Transfer", Recipient: bob.address}).tags.Quantity).toBe("300")
        expect(await tokenBalance(bob.address)).toBe(bobTokens)

        expect(errorOf(await openFromDeposit(alice, "100", {Worker: w2.address}), "Open-Channel")).toMatch(
            /not an eligible registered worker/
        )
        expect(errorOf(await openFromDeposit(alice, "100", {Worker: w3.address, Model: m1.name}), "Open-Channel")).toMatch(
            /does not serve model/
        )
        expect(errorOf(await openFromDeposit(alice, "16501", {Worker: w1.address}), "Open-Channel")).toBe(
            "Insufficient available balance: have 16500, need 16501"
        )
        expect(errorOf(await openFromDeposit(alice, "0", {Worker: w1.address}), "Open-Channel")).toBe("Quantity must be greater than 0")
        expect(errorOf(await openFromDeposit(bob, "100", {Channel: byDeposit}), "Open-Channel")).toBe(`Channel ${byDeposit} is not yours`)
        expect(await escrowBalance(alice)).toBe(16500n)
        expect(await escrowBalance(bob)).toBe(5000n)
        expect(await listChannels({Owner: alice.address})).toHaveLength(2)
        await expectConserved()
    })

    it("redeems a voucher: the worker and the model owner share the amount, floor(amount * 500 / 10500) to the owner", async () => {
        const trace = await must(alice, escrow, {
            Action: "Redeem-Voucher",
            Channel: byTransfer,
            Cumulative: "1050",
            Nonce: "1",
            "Receipts-Root": hex("root-1")
        })
        const sent = trace.filter({Action: "Voucher-Redeemed"})
        expect(sent.map((m) => m.target).sort()).toEqual([alice.address, w1.address].sort())
        for (const m of sent) {
            expect(m.tags).toMatchObject({
                Channel: byTransfer,
                Amount: "1050",
                Cumulative: "1050",
                Nonce: "1",
                "Receipts-Root": hex("root-1"),
                "Worker-Share": "1000",
                "Owner-Share": "50"
            })
        }
        expect(await escrowBalance(w1)).toBe(1000n)
        expect(await escrowBalance(modelOwner)).toBe(50n)
        expect(await readChannel(byTransfer)).toMatchObject({
            paid: "1050",
            nonce: 1,
            receiptsRoot: hex("root-1"),
            redemptions: 1,
            state: "Open"
        })
        await expectConserved()
    })

    it("pays only the difference on the next voucher, and nothing to a model owner on a channel without a model", async () => {
        // 1500 - 1050 = 450: the owner gets floor(450 * 500 / 10500) = 21, the worker 429.
        const next = await redeem(alice, byTransfer, "1500", 7)
        expect(next.find({Action: "Voucher-Redeemed"}).tags).toMatchObject({
            Amount: "450",
            Cumulative: "1500",
            Nonce: "7",
            "Worker-Share": "429",
            "Owner-Share": "21"
        })
        const plain = await redeem(alice, byDeposit, "800", 1)
        expect(plain.find({Action: "Voucher-Redeemed"}).tags).toMatchObject({Amount: "800", "Worker-Share": "800", "Owner-Share": "0"})
        expect(await escrowBalance(w1)).toBe(1000n + 429n + 800n)
        expect(await escrowBalance(modelOwner)).toBe(71n)
        await expectConserved()
    })

    it("refuses stale, non-increasing, over-spending and foreign vouchers, paying nothing", async () => {
        const before = await readChannel(byTransfer)
        const w1Before = await escrowBalance(w1)
        const cases: Array<[Actor, string, number, string]> = [
            [alice, "2000", 7, "Stale voucher: nonce 7 is not above 7"],
            [alice, "2000", 3, "Stale voucher: nonce 3 is not above 7"],
            [alice, "1500", 8, "Voucher pays nothing new"],
            [alice, "1400", 8, "Voucher pays nothing new"],
            [alice, "6001", 8, "Voucher over-spends the channel: 6001 > 6000"],
            // The worker forging its own voucher.
            [w1, "6000", 8, "Voucher is not signed by the channel's owner"]
        ]
        for (const [signer, cumulative, nonce, error] of cases) {
            const trace = await redeem(signer, byTransfer, cumulative, nonce)
            const refused = trace.find({Action: "Redeem-Voucher-Error"})
            expect(refused.target).toBe(signer.address)
            expect(refused.tags.Error).toBe(error)
            expect(trace.filter({Action: "Voucher-Redeemed"})).toEqual([])
        }
        // bob has a channel with w1 too, and signs a voucher naming alice's.
        const bobs = (await must(bob, escrow, {Action: "Open-Channel", Worker: w1.address, Quantity: "1000"})).id
        expect(errorOf(await redeem(bob, byTransfer, "3000", 9), "Redeem-Voucher")).toBe("Voucher is not signed by the channel's owner")
        expect(errorOf(await redeem(bob, fakeId("no-channel"), "1", 1), "Redeem-Voucher")).toBe(`Unknown channel ${fakeId("no-channel")}`)
        expect(errorOf(await redeem(alice, byTransfer, "1600", 8, "NOT-HEX"), "Redeem-Voucher")).toBe(
            "Receipts-Root must be 64 lowercase hex characters"
        )
        expect(errorOf(await redeem(alice, byTransfer, "-1", 8), "Redeem-Voucher")).toBe("Cumulative must be a non-negative integer string")
        expect(await readChannel(byTransfer)).toEqual(before)
        expect(await escrowBalance(w1)).toBe(w1Before)
        expect((await readChannel(bobs)).paid).toBe("0")
        await expectConserved()
    })

    let closesAt: number
    /** Alice's escrow balance while the lock runs; read then, since a dry run after it would already show the refund its upkeep makes. */
    let aliceDuringLock: bigint

    it("closes on the owner's Close-Channel into Closing; the worker may still redeem during the refund lock", async () => {
        expect(errorOf(await ao.send(w1, escrow, {Action: "Close-Channel", Channel: byTransfer}), "Close-Channel")).toBe(
            "Only the channel's owner may close it"
        )
        const trace = await must(alice, escrow, {Action: "Close-Channel", Channel: byTransfer, "X-Reference": "close"})
        const closing = trace.filter({Action: "Channel-Closing"})
        expect(closing.map((m) => m.target).sort()).toEqual([alice.address, w1.address].sort())
        const reply = trace.find({Action: "Channel-Closing", "X-Reference": "close"})
        expect(reply.target).toBe(alice.address)
        closesAt = Number(reply.tags["Closes-At"])
        expect(reply.tags).toMatchObject({Channel: byTransfer, Deposited: "6000", Paid: "1500"})
        expect(closesAt).toBeGreaterThan(Date.now() - 1000)

        const during = await redeem(alice, byTransfer, "2000", 8)
        expect(during.find({Action: "Voucher-Redeemed"}).tags).toMatchObject({Amount: "500", "Worker-Share": "477", "Owner-Share": "23"})
        aliceDuringLock = await escrowBalance(alice)
        expect(Date.now(), "the refund lock passed before the test could read the balance inside it").toBeLessThan(closesAt)
        expect(errorOf(await ao.send(alice, escrow, {Action: "Close-Channel", Channel: byTransfer}), "Close-Channel")).toBe(
            `Channel ${byTransfer} is already Closing until Closes-At ${closesAt}`
        )
        expect(errorOf(await openFromDeposit(alice, "10", {Channel: byTransfer}), "Open-Channel")).toBe(
            `Channel ${byTransfer} is not Open (Closing)`
        )
        expect(await readChannel(byTransfer)).toMatchObject({state: "Closing", closesAt, paid: "2000"})
        await expectConserved()
    })

    it("after the lock returns the unpaid rest to the owner's escrow balance on the next message and refuses later vouchers", async () => {
        await sleep(Math.max(0, closesAt - Date.now() + 50))
        // Any message runs the upkeep; this one is the owner's own Close-Channel, which is then no error.
        const trace = await must(alice, escrow, {Action: "Close-Channel", Channel: byTransfer})
        const closed = trace.filter({Action: "Channel-Closed"})
        expect(closed.map((m) => m.target).sort()).toEqual([alice.address, w1.address].sort())
        for (const m of closed) expect(m.tags).toMatchObject({Channel: byTransfer, Refunded: "4000"})
        expect(await escrowBalance(alice)).toBe(aliceDuringLock + 4000n)
        expect(await readChannel(byTransfer)).toMatchObject({state: "Closed", paid: "2000", closesAt})

        expect(errorOf(await redeem(alice, byTransfer, "2500", 9), "Redeem-Voucher")).toBe(`Channel ${byTransfer} is Closed`)
        expect(errorOf(await ao.send(alice, escrow, {Action: "Close-Channel", Channel: byTransfer}), "Close-Channel")).toBe(
            `Channel ${byTransfer} is already Closed`
        )
        await expectConserved()
    })

    it("reads one channel, and lists channels newest first, filtered by Owner, Worker and State", async () => {
        expect(errorOf(await ao.send(alice, escrow, {Action: "Channel", Channel: fakeId("nope")}), "Channel")).toBe(
            `Unknown channel ${fakeId("nope")}`
        )
        const all = await listChannels()
        expect(all.map((c) => c.owner)).toEqual([bob.address, alice.address, alice.address])
        expect(all.map((c) => c.id).slice(1)).toEqual([byDeposit, byTransfer])
        expect((await listChannels({Owner: alice.address})).map((c) => c.id)).toEqual([byDeposit, byTransfer])
        expect((await listChannels({Worker: w1.address, State: "Open"})).map((c) => c.owner)).toEqual([bob.address, alice.address])
        expect((await listChannels({State: "Closed"})).map((c) => c.id)).toEqual([byTransfer])
        expect(await listChannels({Worker: w3.address})).toEqual([])
        expect((await listChannels({Limit: "1"})).map((c) => c.owner)).toEqual([bob.address])
        expect(errorOf(await ao.send(alice, escrow, {Action: "Channels", State: "Gone"}), "Channels")).toBe(
            "State must be one of Open, Closing, Closed"
        )
    })

    it("counts unpaid channel funds in the escrow's liabilities, so Token cannot change under them", async () => {
        const info = await owner.client.read(escrow, {Action: "Info"})
        // bob's 1000 and alice's 3500 - 800 are still in Open channels.
        expect(info.tags["Channel-Funds"]).toBe("3700")
        const otherToken = await ao.deploy(owner, "token")
        expect(errorOf(await ao.send(owner, escrow, {Action: "Configure", Token: otherToken}), "Configure")).toBe(
            "Token cannot change while the escrow holds tokens"
        )
        const stake = await ao.send(bob, token, {Action: "Transfer", Recipient: escrow, Quantity: "100", "X-Action": "Stake"})
        expect(errorOf(stake, "Stake")).toBe("Unsupported X-Action Stake: use Deposit, Infer, Challenge or Open-Channel")
        await expectConserved()
    })
})
