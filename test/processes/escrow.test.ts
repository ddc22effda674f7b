import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

// The escrow in the real aos runtime. The "registry" is a wallet that sends the
// Sync-* notices the real registry would, and the workers are wallets.

/** A 43-character id derived from `label`, for model and receipt transactions. */
const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Waits until wall-clock time (what aos stamps on messages) is past `deadline`. */
const passDeadline = async (deadline: string | undefined) => await sleep(Math.max(0, Number(deadline) - Date.now() + 25))

interface Model {
    id: string
    sha256: string
    name: string
    ownerFee: number
    owner: string
}

const model = (name: string, owner: Actor, ownerFee = 0): Model => ({
    id: fakeId(name),
    sha256: hex(name),
    name,
    ownerFee,
    owner: owner.address
})

const workerRecord = (worker: Actor, models: Model[], fields: Record<string, unknown> = {}) => ({
    address: worker.address,
    models: models.map((m) => m.id),
    priceInput: "1000",
    priceOutput: "3001",
    maxConcurrency: 4,
    stake: "1000",
    eligible: true,
    lastHeartbeat: Date.now(),
    heartbeatTimeout: 600_000,
    reputation: {completed: 0, strikes: 0, slashed: 0},
    ...fields
})

/** The escrow's draw, recomputed: FNV-1a seeds, stake x reputation weights. */
function expectedPick(records: Array<ReturnType<typeof workerRecord>>, seedText: string) {
    const fnv1a = (text: string) => {
        let h = 2166136261
        for (const byte of Buffer.from(text)) h = Math.imul(h ^ byte, 16777619) >>> 0
        return h
    }
    let seed = 0n
    for (let i = 1; i <= 7; i++) seed = seed * 2n ** 32n + BigInt(fnv1a(`${seedText}#${i}`))
    const sorted = [...records].sort((a, b) => (a.address < b.address ? -1 : 1))
    const weights = sorted.map(
        ({stake, reputation: {completed, strikes, slashed}}) =>
            (BigInt(stake) * BigInt(completed + 1) * 1_000_000n) / BigInt(completed + 1 + 4 * strikes + 16 * slashed)
    )
    let r = seed % weights.reduce((a, b) => a + b, 0n)
    for (const [i, w] of weights.entries()) {
        if (r < w) return sorted[i]!.address
        r -= w
    }
    throw new Error("unreachable")
}

let ao: MemoryAo
let owner: Actor, registry: Actor, alice: Actor, bob: Actor, stranger: Actor, modelOwner: Actor
/** Worker wallets, shared by the escrows below: a 4096-bit key takes seconds to generate. */
let pool: Actor[]
let token: string

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, registry, alice, bob, stranger, modelOwner] = await Promise.all([
        ao.actor("owner"),
        ao.actor("registry"),
        ao.actor("alice"),
        ao.actor("bob"),
        ao.actor("stranger"),
        ao.actor("model-owner")
    ])
    pool = await Promise.all(["w1", "w2", "w3", "w4", "w5"].map((name) => ao.actor(name)))
    token = await ao.deploy(owner, "token")
    await ao.send(owner, token, {Action: "Mint", Quantity: "100000", Recipient: alice.address})
    await ao.send(owner, token, {Action: "Mint", Quantity: "100000", Recipient: bob.address})
})

const tokenBalance = async (who: string) => (await owner.client.read(token, {Action: "Balance", Recipient: who})).tags.Balance

async function deployEscrow(params: Record<string, string>, models: Model[], workers: Array<ReturnType<typeof workerRecord>>) {
    const escrow = await ao.deploy(owner, "escrow")
    const configured = await ao.send(owner, escrow, {Action: "Configure", Token: token, Registry: registry.address, ...params})
    configured.find({Action: "Configure-Notice"})
    for (const m of models) await sync(escrow, "Sync-Model", m)
    for (const w of workers) await sync(escrow, "Sync-Worker", w)
    return escrow
}

async function sync(escrow: string, action: "Sync-Model" | "Sync-Worker", record: object) {
    const trace = await ao.send(registry, escrow, {Action: action}, JSON.stringify(record))
    expect(trace.filter({Action: `${action}-Error`})).toEqual([])
}

const deposit = async (who: Actor, escrow: string, quantity: string) =>
    await ao.send(who, token, {Action: "Transfer", Recipient: escrow, Quantity: quantity, "X-Action": "Deposit"})

const balance = async (escrow: string, who: Actor) => (await owner.client.read(escrow, {Action: "Balance", Recipient: who.address})).tags

const readTask = async (escrow: string, id: string) =>
    await owner.client.readJson<Record<string, unknown>>(escrow, {Action: "Task", "Task-Id": id})

function errorOf(trace: Trace, action: string) {
    return trace.find({Action: `${action}-Error`}).tags.Error
}

function result(worker: Actor, escrow: string, taskId: string, tags: Record<string, string> = {}, output = "forty-two") {
    return ao.send(
        worker,
        escrow,
        {
            Action: "Task-Result",
            "Task-Id": taskId,
            "Input-Tokens": "17",
            "Output-Tokens": "33",
            "Receipt-Tx": fakeId(`receipt-${taskId}`),
            "Receipt-Hash": hex(`receipt-${taskId}`),
            ...tags
        },
        output
    )
}

/** The escrow holds exactly what it owes: balances plus the Max-Fee of open tasks. */
async function expectSolvent(escrow: string) {
    const info = await owner.client.read(escrow, {Action: "Info"})
    const details = JSON.parse(info.data) as {balances: string; locked: string}
    const open = [
        ...(await owner.client.readJson<Array<{locked: string}>>(escrow, {Action: "Tasks", State: "Assigned"})),
        ...(await owner.client.readJson<Array<{locked: string}>>(escrow, {Action: "Tasks", State: "Completed"}))
    ]
    const locked = open.reduce((sum, t) => sum + BigInt(t.locked), 0n)
    expect(BigInt(details.locked)).toBe(locked)
    expect(BigInt(info.tags.Liabilities!)).toBe(BigInt(details.balances) + locked)
    expect(await tokenBalance(escrow)).toBe(info.tags.Liabilities)
}

describe("escrow: deposits, tasks and settlement", () => {
    let escrow: string
    let w1: Actor, w2: Actor
    const workers = new Map<string, Actor>()
    let m1: Model

    beforeAll(async () => {
        ;[w1, w2] = [pool[0]!, pool[1]!]
        for (const w of [w1, w2]) workers.set(w.address, w)
        m1 = model("llama-toy", modelOwner, 500)
        escrow = await deployEscrow(
            {"Challenge-Window": "20000", "Task-Timeout": "3600000"},
            [m1],
            [workerRecord(w1, [m1], {stake: "1000"}), workerRecord(w2, [m1], {stake: "3000"})]
        )
    })

    /** Sends a direct Infer and returns the trace with the assigned worker. */
    async function infer(tags: Record<string, string>, prompt = "What is six times seven?") {
        const trace = await ao.send(alice, escrow, {Action: "Infer", Model: m1.name, "Max-Tokens": "40", ...tags}, prompt)
        const accepted = trace.find({Action: "Infer-Accepted"})
        return {trace, id: accepted.tags["Task-Id"]!, worker: workers.get(accepted.tags.Worker!)!}
    }

    it("takes Configure only from its owner and Sync-* only from its registry", async () => {
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Configure", "Task-Timeout": "1"}), "Configure")).toMatch(/owner/)
        const forgedWorker = workerRecord(stranger, [m1], {stake: "999999"})
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Sync-Worker"}, JSON.stringify(forgedWorker)), "Sync-Worker")).toMatch(
            /registry/
        )
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Sync-Model"}, JSON.stringify(m1)), "Sync-Model")).toMatch(/registry/)
        expect(errorOf(await ao.send(registry, escrow, {Action: "Sync-Worker"}, "{not json"), "Sync-Worker")).toMatch(/JSON/)
        expect(
            errorOf(await ao.send(registry, escrow, {Action: "Sync-Model"}, JSON.stringify({...m1, sha256: "zz"})), "Sync-Model")
        ).toMatch(/sha256/)

        const info = await owner.client.read(escrow, {Action: "Info"})
        expect(info.tags).toMatchObject({
            Token: token,
            Registry: registry.address,
            "Challenge-Window": "20000",
            "Task-Timeout": "3600000",
            "Max-Attempts": "3"
        })
        expect(JSON.parse(info.data)).toMatchObject({models: 1, workers: 2})
    })

    it("credits a deposit from the configured token", async () => {
        const trace = await deposit(alice, escrow, "5000")
        const notice = trace.find({Action: "Deposit-Notice"})
        expect(notice.target).toBe(alice.address)
        expect(notice.tags).toMatchObject({Quantity: "5000", Balance: "5000"})
        expect(await balance(escrow, alice)).toMatchObject({Balance: "5000", Locked: "0"})
    })

    it("refunds a Credit-Notice from another token, one forged by a wallet, or with an unknown X-Action", async () => {
        const otherToken = await ao.deploy(owner, "token")
        await ao.send(owner, otherToken, {Action: "Mint", Quantity: "700", Recipient: bob.address})
        const wrongToken = await ao.send(bob, otherToken, {Action: "Transfer", Recipient: escrow, Quantity: "700", "X-Action": "Deposit"})
        expect(errorOf(wrongToken, "Deposit")).toMatch(/configured token/)
        expect(wrongToken.find({Action: "Transfer", Recipient: bob.address}).target).toBe(otherToken)
        expect((await owner.client.read(otherToken, {Action: "Balance", Recipient: bob.address})).tags.Balance).toBe("700")

        const forged = await ao.send(stranger, escrow, {
            Action: "Credit-Notice",
            Sender: stranger.address,
            Quantity: "5000",
            "X-Action": "Deposit"
        })
        expect(errorOf(forged, "Deposit")).toMatch(/configured token/)
        expect((await balance(escrow, stranger)).Balance).toBe("0")

        const stake = await ao.send(bob, token, {Action: "Transfer", Recipient: escrow, Quantity: "100", "X-Action": "Stake"})
        expect(errorOf(stake, "Stake")).toMatch(/Unsupported X-Action/)
        const bare = await ao.send(bob, token, {Action: "Transfer", Recipient: escrow, Quantity: "100"})
        expect(errorOf(bare, "Credit-Notice")).toMatch(/Unsupported X-Action/)
        expect(await tokenBalance(bob.address)).toBe("100000")
        expect((await balance(escrow, bob)).Balance).toBe("0")
    })

    it.each([
        ["no Model", {Model: ""}, /Model is required/],
        ["an unknown model", {Model: "gpt-imaginary"}, /Unknown model/],
        ["Max-Tokens 0", {"Max-Tokens": "0"}, /Max-Tokens must be at least 1/],
        ["Max-Tokens above 32768", {"Max-Tokens": "40000"}, /Max-Tokens must be at most 32768/],
        ["a non-numeric Max-Tokens", {"Max-Tokens": "ten"}, /Max-Tokens must be an integer/],
        ["Temperature above 2", {Temperature: "3"}, /Temperature must be between 0 and 2/],
        ["a negative Top-P", {"Top-P": "-0.5"}, /Top-P must be a non-negative decimal/],
        ["an unknown Format", {Format: "xml"}, /Format must be one of/],
        ["a chat prompt that is not a message list", {Format: "chat"}, /chat prompt/],
        ["no Max-Fee", {"Max-Fee": ""}, /Max-Fee is required/],
        ["a negative Max-Fee", {"Max-Fee": "-5"}, /Max-Fee must be a non-negative integer/],
        ["a fractional Max-Fee", {"Max-Fee": "1.5"}, /Max-Fee must be a non-negative integer/],
        ["a huge Max-Fee", {"Max-Fee": "9".repeat(80)}, /Max-Fee is too large/],
        ["Max-Fee above the balance", {"Max-Fee": "5001"}, /above the available balance 5000/],
        // ceil(3001 * 40 / 1000) = 121, plus 5% owner fee rounded down = 127
        ["Max-Fee below the cheapest quote", {"Max-Fee": "126"}, /below the cheapest quote 127/],
        ["no prompt", {prompt: ""}, /prompt is required/],
        ["a malformed Prompt-Tx", {"Prompt-Tx": "not-an-id"}, /Prompt-Tx must be a 43-character id/]
    ])("refuses an Infer with %s", async (_label, tags: Record<string, string>, error) => {
        const {prompt = "Hello", ...rest} = tags
        const trace = await ao.send(
            alice,
            escrow,
            {Action: "Infer", Model: m1.name, "Max-Tokens": "40", "Max-Fee": "1000", ...rest},
            prompt
        )
        expect(errorOf(trace, "Infer")).toMatch(error)
        expect(trace.filter({Action: "Task-Assigned"})).toEqual([])
    })

    let first: Awaited<ReturnType<typeof infer>>

    it("assigns an Infer to a serving worker and locks its Max-Fee", async () => {
        first = await infer({"Max-Fee": "1000", Temperature: "0.7", Seed: "7", "X-Reference": "r1"})
        const accepted = first.trace.find({Action: "Infer-Accepted"})
        expect(accepted.target).toBe(alice.address)
        expect(accepted.tags).toMatchObject({"Task-Id": first.trace.id, "X-Reference": "r1"})
        expect(Number(accepted.tags.Deadline)).toBeGreaterThan(Date.now() + 3_500_000)

        const assigned = first.trace.find({Action: "Task-Assigned"})
        expect(assigned.target).toBe(first.worker.address)
        expect(assigned.tags).toMatchObject({
            "Task-Id": first.id,
            Requester: alice.address,
            Model: m1.id,
            "Model-SHA256": m1.sha256,
            "Max-Tokens": "40",
            Temperature: "0.7",
            "Top-K": "40",
            "Top-P": "1",
            Seed: "7",
            Format: "text",
            Attempt: "1",
            "Prompt-Message": first.trace.id,
            Deadline: accepted.tags.Deadline
        })
        expect(assigned.data).toBe("What is six times seven?")
        expect(await balance(escrow, alice)).toMatchObject({Balance: "4000", Locked: "1000"})
        await expectSolvent(escrow)
    })

    it("accepts one well-formed result from the assigned worker only", async () => {
        const other = first.worker === w1 ? w2 : w1
        expect(errorOf(await result(other, escrow, first.id), "Task-Result")).toMatch(/Not the assigned worker/)
        expect(errorOf(await result(first.worker, escrow, fakeId("nope")), "Task-Result")).toMatch(/Unknown task/)
        expect(errorOf(await result(first.worker, escrow, first.id, {"Output-Tokens": "41"}), "Task-Result")).toMatch(/above Max-Tokens 40/)
        expect(errorOf(await result(first.worker, escrow, first.id, {"Receipt-Hash": "abc"}), "Task-Result")).toMatch(/Receipt-Hash/)
        expect(errorOf(await result(first.worker, escrow, first.id, {"Input-Tokens": "-1"}), "Task-Result")).toMatch(/Input-Tokens/)

        const trace = await result(first.worker, escrow, first.id)
        // worker: ceil((1000 * 17 + 3001 * 33) / 1000) = ceil(116.033) = 117; owner: floor(117 * 500 / 10000) = 5
        const notice = trace.find({Action: "Task-Result-Notice"})
        expect(notice.target).toBe(first.worker.address)
        expect(notice.tags).toMatchObject({"Task-Id": first.id, Fee: "122", "Worker-Fee": "117"})
        const delivered = trace.find({Action: "Infer-Result"})
        expect(delivered.target).toBe(alice.address)
        expect(delivered.tags).toMatchObject({
            "Task-Id": first.id,
            Worker: first.worker.address,
            Fee: "122",
            "Input-Tokens": "17",
            "Output-Tokens": "33",
            "Receipt-Tx": fakeId(`receipt-${first.id}`),
            "Receipt-Hash": hex(`receipt-${first.id}`),
            "X-Reference": "r1",
            "Challenge-Deadline": notice.tags["Challenge-Deadline"]
        })
        expect(delivered.data).toBe("forty-two")

        expect(errorOf(await result(first.worker, escrow, first.id), "Task-Result")).toMatch(/not awaiting a result/)
        expect(await readTask(escrow, first.id)).toMatchObject({state: "Completed", fee: "122", workerFee: "117", ownerFee: "5"})
    })

    it("settles only after the challenge window, once", async () => {
        const early = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": first.id})
        expect(errorOf(early, "Settle")).toMatch(/open until Challenge-Deadline/)
        const task = await readTask(escrow, first.id)
        await passDeadline(String(task.challengeDeadline))

        const trace = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": first.id})
        expect(trace.find({Action: "Settle-Notice"}).tags.Settled).toBe("1")
        const settled = {Fee: "122", "Worker-Fee": "117", "Owner-Fee": "5", Refund: "878"}
        expect(
            trace
                .filter({Action: "Task-Settled", ...settled})
                .map((m) => m.target)
                .sort()
        ).toEqual([alice.address, first.worker.address].sort())
        expect(trace.find({Action: "Task-Settled", "X-Reference": "r1"}).target).toBe(alice.address)
        const outcome = trace.find({Action: "Record-Outcome"})
        expect(outcome.target).toBe(registry.address)
        expect(outcome.tags).toMatchObject({Worker: first.worker.address, Outcome: "Completed"})

        expect((await balance(escrow, first.worker)).Balance).toBe("117")
        expect((await balance(escrow, modelOwner)).Balance).toBe("5")
        expect(await balance(escrow, alice)).toMatchObject({Balance: "4878", Locked: "0"})

        expect(errorOf(await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": first.id}), "Settle")).toMatch(/already settled/)
        expect(errorOf(await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": fakeId("nope")}), "Settle")).toMatch(/Unknown task/)
        await expectSolvent(escrow)
    })

    it("caps the fee at Max-Fee, splitting it in the Owner-Fee ratio", async () => {
        const capped = await infer({"Max-Fee": "130"})
        const trace = await result(capped.worker, escrow, capped.id, {"Input-Tokens": "500", "Output-Tokens": "40"})
        // uncapped: worker ceil(620.04) = 621 + owner 31 > 130, so owner = floor(130 * 500 / 10500) = 6, worker = 124
        expect(trace.find({Action: "Infer-Result"}).tags.Fee).toBe("130")
        expect(trace.find({Action: "Task-Result-Notice"}).tags["Worker-Fee"]).toBe("124")

        await passDeadline(trace.find({Action: "Infer-Result"}).tags["Challenge-Deadline"])
        const settle = await ao.send(stranger, escrow, {Action: "Settle"})
        expect(settle.find({Action: "Task-Settled", "Task-Id": capped.id}).tags).toMatchObject({
            Fee: "130",
            "Worker-Fee": "124",
            "Owner-Fee": "6",
            Refund: "0"
        })
        expect((await balance(escrow, modelOwner)).Balance).toBe("11")
        expect(await balance(escrow, alice)).toMatchObject({Balance: "4748", Locked: "0"})
    })

    it("runs a per-call Infer paid by token transfer and refunds the unused part at settlement", async () => {
        const before = BigInt((await tokenBalance(bob.address)) ?? "0")
        const call = await ao.send(bob, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "500",
            "X-Action": "Infer",
            "X-Model": m1.id,
            "X-Max-Tokens": "40",
            "X-Max-Fee": "300",
            "X-Prompt": "Say hi",
            "X-Reference": "call-1"
        })
        const accepted = call.find({Action: "Infer-Accepted"})
        expect(accepted.target).toBe(bob.address)
        expect(accepted.tags["X-Reference"]).toBe("call-1")
        const id = accepted.tags["Task-Id"]!
        const worker = workers.get(accepted.tags.Worker!)!
        const assigned = call.find({Action: "Task-Assigned"})
        expect(assigned.data).toBe("Say hi")
        expect(assigned.tags).toMatchObject({Requester: bob.address, "Prompt-Message": id})
        expect(await balance(escrow, bob)).toMatchObject({Balance: "0", Locked: "500"})
        expect(await readTask(escrow, id)).toMatchObject({maxFee: "300", locked: "500", perCall: true})

        // worker: ceil((1000 * 10 + 3001 * 20) / 1000) = 71; owner: floor(71 * 0.05) = 3
        const done = await result(worker, escrow, id, {"Input-Tokens": "10", "Output-Tokens": "20"})
        const delivered = done.find({Action: "Infer-Result"})
        expect(delivered.target).toBe(bob.address)
        expect(delivered.tags).toMatchObject({Fee: "74", "X-Reference": "call-1"})

        await passDeadline(delivered.tags["Challenge-Deadline"])
        const settle = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": id})
        expect(settle.find({Action: "Task-Settled", "X-Reference": "call-1"}).tags).toMatchObject({Fee: "74", Refund: "426"})
        const refund = settle.find({Action: "Transfer", Recipient: bob.address})
        expect(refund.target).toBe(token)
        expect(refund.tags.Quantity).toBe("426")
        expect(BigInt((await tokenBalance(bob.address)) ?? "0")).toBe(before - 74n)
        expect(await balance(escrow, bob)).toMatchObject({Balance: "0", Locked: "0"})
        await expectSolvent(escrow)
    })

    it.each([
        ["X-Max-Fee above the transferred Quantity", {"X-Max-Fee": "501"}, /above the transferred Quantity 500/],
        ["no X-Model", {"X-Model": ""}, /Model is required/],
        ["no X-Prompt", {"X-Prompt": ""}, /prompt is required/]
    ])("refunds a per-call Infer with %s", async (_label, tags: Record<string, string>, error) => {
        const before = await tokenBalance(bob.address)
        const trace = await ao.send(bob, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "500",
            "X-Action": "Infer",
            "X-Model": m1.name,
            "X-Max-Tokens": "40",
            "X-Prompt": "Say hi",
            "X-Reference": "bad-call",
            ...tags
        })
        const refused = trace.find({Action: "Infer-Error"})
        expect(refused.target).toBe(bob.address)
        expect(refused.tags).toMatchObject({"X-Reference": "bad-call"})
        expect(refused.tags.Error).toMatch(error)
        expect(trace.find({Action: "Transfer", Recipient: bob.address}).tags.Quantity).toBe("500")
        expect(await tokenBalance(bob.address)).toBe(before)
    })

    it("withdraws from the available balance only", async () => {
        const before = BigInt((await tokenBalance(alice.address)) ?? "0")
        expect(errorOf(await ao.send(alice, escrow, {Action: "Withdraw", Quantity: "4749"}), "Withdraw")).toMatch(
            /Insufficient available balance/
        )
        expect(errorOf(await ao.send(alice, escrow, {Action: "Withdraw", Quantity: "-1"}), "Withdraw")).toMatch(/Quantity/)
        expect(errorOf(await ao.send(alice, escrow, {Action: "Withdraw"}), "Withdraw")).toMatch(/Quantity is required/)

        const trace = await ao.send(alice, escrow, {Action: "Withdraw", Quantity: "4000"})
        expect(trace.find({Action: "Withdraw-Notice"}).tags).toMatchObject({Quantity: "4000", Balance: "748"})
        expect(trace.find({Action: "Credit-Notice"}).target).toBe(alice.address)
        expect(BigInt((await tokenBalance(alice.address)) ?? "0")).toBe(before + 4000n)
        await expectSolvent(escrow)
    })
})

describe("escrow: worker selection", () => {
    let escrow: string
    let cheap: Actor, ineligible: Actor, stale: Actor, otherModel: Actor, pricey: Actor
    let mS: Model, mDraw: Model, mLonely: Model

    beforeAll(async () => {
        ;[cheap, ineligible, stale, otherModel, pricey] = [pool[0]!, pool[1]!, pool[2]!, pool[3]!, pool[4]!]
        mS = model("select-me", modelOwner)
        mDraw = model("draw-me", modelOwner)
        mLonely = model("lonely", modelOwner)
        const mOther = model("other", modelOwner)
        // Only `cheap` and (given a larger Max-Fee) `pricey` may take an mS task: the
        // others are ineligible, silent for longer than their heartbeat timeout, or
        // serve another model. Each takes one task at a time.
        escrow = await deployEscrow(
            {},
            [mS, mDraw, mLonely, mOther],
            [
                workerRecord(cheap, [mS], {priceOutput: "1000", maxConcurrency: 1}),
                workerRecord(ineligible, [mS], {priceOutput: "1", eligible: false}),
                workerRecord(stale, [mS], {priceOutput: "1", lastHeartbeat: Date.now() - 700_000}),
                workerRecord(otherModel, [mOther], {priceOutput: "1"}),
                workerRecord(pricey, [mS], {priceOutput: "5000", maxConcurrency: 1})
            ]
        )
        await deposit(alice, escrow, "50000")
    })

    const inferOn = (m: Model, maxFee: string) =>
        ao.send(alice, escrow, {Action: "Infer", Model: m.name, "Max-Tokens": "100", "Max-Fee": maxFee}, "Hello")

    it("assigns only to an eligible, fresh worker serving the model within Max-Fee, up to its capacity", async () => {
        expect((await inferOn(mS, "200")).find({Action: "Task-Assigned"}).target).toBe(cheap.address)
        expect(errorOf(await inferOn(mS, "200"), "Infer")).toMatch(/busy/)
        expect((await inferOn(mS, "600")).find({Action: "Task-Assigned"}).target).toBe(pricey.address)
        expect(errorOf(await inferOn(mS, "600"), "Infer")).toMatch(/busy/)
        expect(errorOf(await inferOn(mLonely, "600"), "Infer")).toMatch(/No available worker serves model lonely/)
    })

    it("draws workers by stake and reputation, as recomputed from the task id", async () => {
        // The workers the first test left out now serve mDraw, eligible and fresh.
        const records = [
            workerRecord(ineligible, [mDraw], {
                stake: "2000000000000",
                reputation: {completed: 3, strikes: 1, slashed: 0},
                maxConcurrency: 64
            }),
            workerRecord(stale, [mDraw], {stake: "1000000000000", maxConcurrency: 64}),
            workerRecord(otherModel, [mDraw], {
                stake: "2700000000000",
                reputation: {completed: 10, strikes: 0, slashed: 1},
                maxConcurrency: 64
            })
        ]
        for (const r of records) await sync(escrow, "Sync-Worker", r)
        for (let i = 0; i < 4; i++) {
            const trace = await inferOn(mDraw, "1000")
            expect(trace.find({Action: "Task-Assigned"}).target).toBe(expectedPick(records, `${trace.id}:1`))
        }
        await expectSolvent(escrow)
    })
})

describe("escrow: timeouts, failures and refunds", () => {
    let escrow: string
    const workers = new Map<string, Actor>()
    let mT: Model

    beforeAll(async () => {
        const actors = pool.slice(0, 3)
        for (const w of actors) workers.set(w.address, w)
        mT = model("timeout-me", modelOwner)
        escrow = await deployEscrow(
            {"Task-Timeout": "3000", "Challenge-Window": "1", "Max-Attempts": "2"},
            [mT],
            actors.map((w) => workerRecord(w, [mT]))
        )
        await deposit(alice, escrow, "10000")
    })

    const infer = async () => {
        const trace = await ao.send(
            alice,
            escrow,
            {Action: "Infer", Model: mT.name, "Max-Tokens": "40", "Max-Fee": "1000", "X-Reference": "t"},
            "Hi"
        )
        const assigned = trace.find({Action: "Task-Assigned"})
        return {id: trace.id, worker: workers.get(assigned.target)!, deadline: assigned.tags.Deadline}
    }

    it("reassigns a task its worker gave up without a strike, and refunds it after Max-Attempts", async () => {
        const task = await infer()
        const failed = await ao.send(task.worker, escrow, {Action: "Task-Failed", "Task-Id": task.id, Error: "out of memory"})
        expect(failed.find({Action: "Task-Failed-Notice"}).target).toBe(task.worker.address)
        expect(failed.filter({Action: "Record-Outcome"})).toEqual([])
        const again = failed.find({Action: "Task-Assigned"})
        expect(again.tags.Attempt).toBe("2")
        expect(again.target).not.toBe(task.worker.address)
        expect(again.data).toBe("Hi")

        const second = workers.get(again.target)!
        const exhausted = await ao.send(second, escrow, {Action: "Task-Failed", "Task-Id": task.id, Error: "no GPU"})
        const refunded = exhausted.find({Action: "Infer-Refunded"})
        expect(refunded.target).toBe(alice.address)
        expect(refunded.tags).toMatchObject({"Task-Id": task.id, "X-Reference": "t"})
        expect(refunded.tags.Error).toMatch(/no GPU; Max-Attempts reached/)
        expect(exhausted.filter({Action: "Task-Assigned"})).toEqual([])
        expect(await balance(escrow, alice)).toMatchObject({Balance: "10000", Locked: "0"})
        expect(await readTask(escrow, task.id)).toMatchObject({state: "Refunded", refund: "1000", attempt: 2})
        expect(errorOf(await result(second, escrow, task.id), "Task-Result")).toMatch(/not awaiting a result \(Refunded\)/)
    })

    it("revokes a task from a silent worker on the next message, strikes it and reassigns the task", async () => {
        const task = await infer()
        await passDeadline(task.deadline)
        const late = await result(task.worker, escrow, task.id)
        expect(late.find({Action: "Task-Revoked"}).target).toBe(task.worker.address)
        const strike = late.find({Action: "Record-Outcome"})
        expect(strike.target).toBe(registry.address)
        expect(strike.tags).toMatchObject({Worker: task.worker.address, Outcome: "Strike", "Task-Id": task.id})
        const reassigned = late.find({Action: "Task-Assigned"})
        expect(reassigned.tags.Attempt).toBe("2")
        expect(errorOf(late, "Task-Result")).toMatch(/Not the assigned worker/)

        const done = await result(workers.get(reassigned.target)!, escrow, task.id)
        expect(done.find({Action: "Infer-Result"}).tags.Worker).toBe(reassigned.target)
        // A one-millisecond window: the next message settles the task.
        const settle = await ao.send(stranger, escrow, {Action: "Settle", "Task-Id": task.id})
        expect(settle.filter({Action: "Task-Settled"})).toHaveLength(2)
        expect(settle.find({Action: "Record-Outcome", Outcome: "Completed"}).tags.Worker).toBe(reassigned.target)
    })

    it("refunds a per-call Infer by token transfer when every attempt timed out", async () => {
        const before = await tokenBalance(bob.address)
        const call = await ao.send(bob, token, {
            Action: "Transfer",
            Recipient: escrow,
            Quantity: "300",
            "X-Action": "Infer",
            "X-Model": mT.id,
            "X-Max-Tokens": "40",
            "X-Prompt": "Hi",
            "X-Reference": "slow"
        })
        const first = call.find({Action: "Task-Assigned"})
        await passDeadline(first.tags.Deadline)
        const poke = await ao.send(stranger, escrow, {Action: "Settle"})
        const second = poke.find({Action: "Task-Assigned"})
        expect(second.target).not.toBe(first.target)
        await passDeadline(second.tags.Deadline)

        const last = await ao.send(stranger, escrow, {Action: "Settle"})
        expect(last.find({Action: "Record-Outcome", Outcome: "Strike"}).tags.Worker).toBe(second.target)
        const refunded = last.find({Action: "Infer-Refunded"})
        expect(refunded.target).toBe(bob.address)
        expect(refunded.tags).toMatchObject({Refund: "300", "X-Reference": "slow"})
        expect(last.find({Action: "Transfer", Recipient: bob.address}).tags.Quantity).toBe("300")
        expect(await tokenBalance(bob.address)).toBe(before)
    })

    it("refunds when no other worker is left before Max-Attempts", async () => {
        await ao.send(owner, escrow, {Action: "Configure", "Max-Attempts": "5"})
        const task = await infer()
        let worker = task.worker
        let trace: Trace | undefined
        for (let attempt = 1; attempt <= 3; attempt++) {
            trace = await ao.send(worker, escrow, {Action: "Task-Failed", "Task-Id": task.id})
            const next = trace.filter({Action: "Task-Assigned"})[0]
            if (next) worker = workers.get(next.target)!
        }
        expect(trace!.find({Action: "Infer-Refunded"}).tags.Error).toMatch(/No available worker serves model timeout-me/)
        expect(await balance(escrow, alice)).toMatchObject({Locked: "0"})
        await expectSolvent(escrow)
    })
})
