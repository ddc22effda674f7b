import {createHash} from "node:crypto"
import {fileURLToPath} from "node:url"
import {beforeAll, describe, expect, it} from "vitest"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

// The Lua client (processes/lib/client.lua) inside the example qa-bot dApp, in
// the real aos runtime, against the real token and escrow. As in
// escrow.test.ts, the registry is a wallet sending Sync-* and the worker is a
// wallet answering Task-Assigned with Task-Result.

const qaBotFile = fileURLToPath(new URL("../../examples/qa-bot/qa-bot.lua", import.meta.url))

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Waits until wall-clock time (what aos stamps on messages) is past `deadline`. */
const passDeadline = async (deadline: string | undefined) => await sleep(Math.max(0, Number(deadline) - Date.now() + 25))

const QUESTION = "What is six times seven?"
const PROMPT = `Question: ${QUESTION}\nAnswer:`

let ao: MemoryAo
let owner: Actor, registry: Actor, worker: Actor, asker: Actor, stranger: Actor
let token: string, escrow: string, dapp: string
const model = {id: fakeId("qa-toy"), sha256: hex("qa-toy"), name: "qa-toy", ownerFee: 0, owner: ""}

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, registry, worker, asker, stranger] = await Promise.all([
        ao.actor("owner"),
        ao.actor("registry"),
        ao.actor("worker"),
        ao.actor("asker"),
        ao.actor("stranger")
    ])
    model.owner = owner.address

    token = await ao.deploy(owner, "token")
    escrow = await ao.deploy(owner, "escrow")
    // One attempt per task: a silent worker's task is refunded, not reassigned.
    const configured = await ao.send(owner, escrow, {
        Action: "Configure",
        Token: token,
        Registry: registry.address,
        "Challenge-Window": "3600000",
        "Task-Timeout": "3600000",
        "Max-Attempts": "1"
    })
    configured.find({Action: "Configure-Notice"})
    await sync("Sync-Model", model)
    await sync("Sync-Worker", {
        address: worker.address,
        models: [model.id],
        priceInput: "1000",
        priceOutput: "2000",
        maxConcurrency: 8,
        stake: "1000",
        eligible: true,
        lastHeartbeat: Date.now(),
        heartbeatTimeout: 3_600_000,
        reputation: {completed: 0, strikes: 0, slashed: 0}
    })

    dapp = await ao.deployFile(owner, qaBotFile)
    await configureDapp({Escrow: escrow, Token: token, Model: model.name, "Max-Fee": "1000", "Max-Tokens": "64"})
    await ao.send(owner, token, {Action: "Mint", Quantity: "100000"})
    await ao.send(owner, token, {Action: "Transfer", Recipient: dapp, Quantity: "20000"})
})

async function sync(action: "Sync-Model" | "Sync-Worker", record: object) {
    const trace = await ao.send(registry, escrow, {Action: action}, JSON.stringify(record))
    expect(trace.filter({Action: `${action}-Error`})).toEqual([])
}

async function configureDapp(tags: Record<string, string>) {
    const notice = (await ao.send(owner, dapp, {Action: "Configure", ...tags})).find({Action: "Configure-Notice"})
    expect(notice.tags).toMatchObject(tags)
}

const tokenBalance = async (who: string) => (await owner.client.read(token, {Action: "Balance", Recipient: who})).tags.Balance
const escrowBalance = async (who: string) => (await owner.client.read(escrow, {Action: "Balance", Recipient: who})).tags
const pending = async () => await ao.readJson<Array<Record<string, unknown>>>(owner, dapp, {Action: "Pending"})
const storedAnswer = async (id: string) =>
    await ao.readJson<Record<string, unknown>>(asker, dapp, {Action: "Get-Answer", "Question-Id": id})

/** One emitted message matching `tags`, checked to come from `from` and go to `to`. */
function sent(trace: Trace, tags: Record<string, string>, from: string, to: string) {
    const found = trace.find(tags)
    expect({from: found.from, target: found.target}).toEqual({from, target: to})
    return found
}

/** Asks the dApp and follows the cascade to the worker: the question id, the call's X-Reference, the task. */
async function ask(question = QUESTION) {
    const trace = await ao.send(asker, dapp, {Action: "Ask"}, question)
    expect(sent(trace, {Action: "Ask-Accepted"}, dapp, asker.address).tags["Question-Id"]).toBe(trace.id)
    const accepted = sent(trace, {Action: "Infer-Accepted"}, escrow, dapp)
    const assigned = sent(trace, {Action: "Task-Assigned"}, escrow, worker.address)
    expect(assigned.tags).toMatchObject({"Task-Id": accepted.tags["Task-Id"], Requester: dapp, Model: model.id, "Max-Tokens": "64"})
    expect(assigned.data).toBe(`Question: ${question}\nAnswer:`)
    expect(trace.filter({Action: "Answer"})).toEqual([])
    return {trace, id: trace.id, reference: accepted.tags["X-Reference"]!, taskId: accepted.tags["Task-Id"]!, assigned}
}

/** The worker wallet's result: fee ceil((1000 * 10 + 2000 * 20) / 1000) = 50. */
const taskResult = (taskId: string, output = "forty-two") =>
    ao.send(
        worker,
        escrow,
        {
            Action: "Task-Result",
            "Task-Id": taskId,
            "Input-Tokens": "10",
            "Output-Tokens": "20",
            "Receipt-Tx": fakeId(`receipt-${taskId}`),
            "Receipt-Hash": hex(`receipt-${taskId}`)
        },
        output
    )

describe("Lua client in the qa-bot dApp", () => {
    it("answers an Ask paid per call by token transfer, from Infer-Accepted to Answer", async () => {
        const before = BigInt((await tokenBalance(dapp))!)
        const call = await ask()
        const payment = sent(call.trace, {Action: "Transfer", "X-Action": "Infer"}, dapp, token)
        expect(payment.tags).toMatchObject({
            Recipient: escrow,
            Quantity: "1000",
            "X-Model": model.name,
            "X-Max-Tokens": "64",
            "X-Prompt": PROMPT
        })
        expect(payment.tags["X-Reference"]).toBe(call.reference)
        expect(call.reference).toMatch(new RegExp(`^${dapp}-\\d+$`))
        expect(BigInt((await tokenBalance(dapp))!)).toBe(before - 1000n)

        expect(await pending()).toEqual([
            {
                Reference: call.reference,
                Model: model.name,
                PayPerCall: true,
                TaskId: call.taskId,
                Worker: worker.address,
                Deadline: Number(call.assigned.tags.Deadline)
            }
        ])
        expect(await storedAnswer(call.id)).toMatchObject({status: "pending", question: QUESTION, taskId: call.taskId})

        const done = await taskResult(call.taskId)
        expect(sent(done, {Action: "Infer-Result"}, escrow, dapp).tags["X-Reference"]).toBe(call.reference)
        const answer = sent(done, {Action: "Answer"}, dapp, asker.address)
        expect(answer.tags).toMatchObject({
            "Question-Id": call.id,
            "Task-Id": call.taskId,
            Fee: "50",
            "Receipt-Tx": fakeId(`receipt-${call.taskId}`)
        })
        expect(answer.data).toBe("forty-two")

        expect(await storedAnswer(call.id)).toEqual({
            status: "answered",
            question: QUESTION,
            asker: asker.address,
            answer: "forty-two",
            taskId: call.taskId,
            worker: worker.address,
            fee: "50",
            receiptTx: fakeId(`receipt-${call.taskId}`)
        })
        expect(await pending()).toEqual([])
    })

    it("pays from the dApp's escrow deposit when Pay-Per-Call is false", async () => {
        await configureDapp({"Pay-Per-Call": "false"})
        try {
            const deposited = await ao.send(owner, dapp, {Action: "Deposit", Quantity: "3000"})
            sent(deposited, {Action: "Transfer", "X-Action": "Deposit"}, dapp, token)
            expect(sent(deposited, {Action: "Deposit-Notice"}, escrow, dapp).tags.Balance).toBe("3000")

            // Earlier per-call tasks stay locked in the escrow (as the dApp's) until their challenge window passes.
            const locked = BigInt((await escrowBalance(dapp)).Locked!)
            const call = await ask()
            const infer = sent(call.trace, {Action: "Infer"}, dapp, escrow)
            expect(infer.tags).toMatchObject({Model: model.name, "Max-Fee": "1000", "Max-Tokens": "64", "X-Reference": call.reference})
            expect(infer.data).toBe(PROMPT)
            expect(call.trace.filter({Action: "Transfer", "X-Action": "Infer"})).toEqual([])
            expect(await escrowBalance(dapp)).toMatchObject({Balance: "2000", Locked: String(locked + 1000n)})

            const done = await taskResult(call.taskId, "six sevens")
            expect(sent(done, {Action: "Answer"}, dapp, asker.address).data).toBe("six sevens")
            expect(await storedAnswer(call.id)).toMatchObject({status: "answered", answer: "six sevens", fee: "50"})
        } finally {
            await configureDapp({"Pay-Per-Call": "true"})
        }
    })

    it("reports an Infer-Error (unknown model) to the callback and the asker, with the payment refunded", async () => {
        await configureDapp({Model: "gpt-imaginary"})
        try {
            const before = await tokenBalance(dapp)
            const trace = await ao.send(asker, dapp, {Action: "Ask"}, QUESTION)
            const refused = sent(trace, {Action: "Infer-Error"}, escrow, dapp)
            expect(refused.tags.Error).toMatch(/Unknown model/)
            expect(refused.tags["X-Reference"]).toBe(
                sent(trace, {Action: "Transfer", "X-Action": "Infer"}, dapp, token).tags["X-Reference"]
            )
            const error = sent(trace, {Action: "Ask-Error"}, dapp, asker.address)
            expect(error.tags).toMatchObject({"Question-Id": trace.id, Error: refused.tags.Error})
            expect(trace.filter({Action: "Task-Assigned"})).toEqual([])
            expect(await tokenBalance(dapp)).toBe(before)
            expect(await storedAnswer(trace.id)).toMatchObject({status: "failed", error: refused.tags.Error})
            expect(await pending()).toEqual([])
        } finally {
            await configureDapp({Model: model.name})
        }
    })

    it("reports a per-call payment the token refused (Transfer-Error)", async () => {
        await configureDapp({"Max-Fee": "99999999"})
        try {
            const trace = await ao.send(asker, dapp, {Action: "Ask"}, QUESTION)
            expect(sent(trace, {Action: "Transfer-Error"}, token, dapp).tags.Error).toMatch(/Insufficient balance/)
            expect(sent(trace, {Action: "Ask-Error"}, dapp, asker.address).tags.Error).toMatch(/Insufficient balance/)
            expect(trace.filter({Action: "Credit-Notice"})).toEqual([])
            expect(await pending()).toEqual([])
        } finally {
            await configureDapp({"Max-Fee": "1000"})
        }
    })

    it("reports Infer-Refunded when the worker stays silent past the deadline", async () => {
        await ao.send(owner, escrow, {Action: "Configure", "Task-Timeout": "1000"})
        try {
            const before = await tokenBalance(dapp)
            const call = await ask()
            await passDeadline(call.assigned.tags.Deadline)
            const poke = await ao.send(stranger, escrow, {Action: "Settle"})
            const refunded = sent(poke, {Action: "Infer-Refunded"}, escrow, dapp)
            expect(refunded.tags).toMatchObject({"Task-Id": call.taskId, Refund: "1000", "X-Reference": call.reference})
            const error = sent(poke, {Action: "Ask-Error"}, dapp, asker.address)
            expect(error.tags).toMatchObject({"Question-Id": call.id})
            expect(error.tags.Error).toMatch(/missed the deadline/)
            expect(sent(poke, {Action: "Transfer", Recipient: dapp}, escrow, token).tags).toMatchObject({
                Quantity: "1000",
                "X-Reference": call.reference
            })
            expect(await tokenBalance(dapp)).toBe(before)
            expect(await storedAnswer(call.id)).toMatchObject({status: "failed", taskId: call.taskId})
        } finally {
            await ao.send(owner, escrow, {Action: "Configure", "Task-Timeout": "3600000"})
        }
    })

    it("ignores replies about a pending call from anyone but the escrow and token", async () => {
        const call = await ask()
        const forged = {"X-Reference": call.reference, "Task-Id": call.taskId}
        for (const [action, tags, data] of [
            ["Infer-Result", {Worker: stranger.address, Fee: "1"}, "forged answer"],
            ["Infer-Error", {Error: "forged"}, ""],
            ["Infer-Refunded", {Error: "forged", Refund: "1000"}, ""],
            ["Transfer-Error", {Error: "forged"}, ""]
        ] as const) {
            const trace = await ao.send(stranger, dapp, {Action: action, ...forged, ...tags}, data)
            expect(trace.filter({Action: "Answer"})).toEqual([])
            expect(trace.filter({Action: "Ask-Error"})).toEqual([])
        }
        expect((await pending()).map((c) => c.Reference)).toEqual([call.reference])
        expect(await storedAnswer(call.id)).toMatchObject({status: "pending"})

        const done = await taskResult(call.taskId)
        expect(sent(done, {Action: "Answer"}, dapp, asker.address).data).toBe("forty-two")
        // The callback fired once: a replay of the result finds no pending call.
        const replay = await ao.send(stranger, dapp, {Action: "Infer-Result", ...forged}, "again")
        expect(replay.filter({Action: "Answer"})).toEqual([])
        expect(await storedAnswer(call.id)).toMatchObject({status: "answered", answer: "forty-two"})
    })

    it("refuses an empty question, Get-Answer of an unknown id, and Configure or Deposit from a non-owner", async () => {
        expect(sent(await ao.send(asker, dapp, {Action: "Ask"}, ""), {Action: "Ask-Error"}, dapp, asker.address).tags.Error).toMatch(
            /question/
        )
        await expect(storedAnswer(fakeId("nope"))).rejects.toThrow(/Unknown Question-Id/)
        const configure = await ao.send(stranger, dapp, {Action: "Configure", Escrow: stranger.address})
        expect(configure.find({Action: "Configure-Error"}).tags.Error).toMatch(/owner/)
        const deposit = await ao.send(stranger, dapp, {Action: "Deposit", Quantity: "1"})
        expect(deposit.find({Action: "Deposit-Error"}).tags.Error).toMatch(/owner/)
        expect(deposit.filter({Action: "Transfer"})).toEqual([])
    })
})
