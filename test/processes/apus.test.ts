import {createHash} from "node:crypto"
import {fileURLToPath} from "node:url"
import {beforeAll, describe, expect, it} from "vitest"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

// Apus-compatible requests (docs/protocol.md, escrow "Apus-compatible
// requests") in the real aos runtime: an Infer in Apus's form, paid from the
// deposit, answered by Infer-Response besides the escrow's own replies. As in
// escrow.test.ts the registry and the worker are wallets.

const apusDappFile = fileURLToPath(new URL("./fixtures/apus-dapp.lua", import.meta.url))

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")

const PROMPT = "Who are you?"
const PRICE_INPUT = 1000n,
    PRICE_OUTPUT = 3001n,
    OWNER_FEE = 500n

/** docs/protocol.md's default Max-Fee for one worker: Max-Tokens out, the prompt's bytes + 16 in, owner's share on top. */
function worstCase(prompt: string, maxTokens: number) {
    const units = PRICE_INPUT * BigInt(Buffer.byteLength(prompt) + 16) + PRICE_OUTPUT * BigInt(maxTokens)
    const worker = (units + 999n) / 1000n
    return (worker + (worker * OWNER_FEE) / 10000n).toString()
}

let ao: MemoryAo
let owner: Actor, registry: Actor, alice: Actor, bob: Actor, worker: Actor
let token: string, escrow: string
const model = {id: fakeId("apus-toy"), sha256: hex("apus-toy"), name: "apus-toy", ownerFee: Number(OWNER_FEE), owner: ""}

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, registry, alice, bob, worker] = await Promise.all([
        ao.actor("owner"),
        ao.actor("registry"),
        ao.actor("alice"),
        ao.actor("bob"),
        ao.actor("worker")
    ])
    model.owner = owner.address
    token = await ao.deploy(owner, "token")
    escrow = await ao.deploy(owner, "escrow")
    // One attempt per task: a failed task is refunded at once.
    const configured = await ao.send(owner, escrow, {
        Action: "Configure",
        Token: token,
        Registry: registry.address,
        "Max-Attempts": "1",
        "Default-Model": model.name
    })
    expect(configured.find({Action: "Configure-Notice"}).tags["Default-Model"]).toBe(model.name)
    await ao.must(registry, escrow, {Action: "Sync-Model"}, JSON.stringify(model))
    await ao.must(
        registry,
        escrow,
        {Action: "Sync-Worker"},
        JSON.stringify({
            address: worker.address,
            models: [model.id],
            priceInput: PRICE_INPUT.toString(),
            priceOutput: PRICE_OUTPUT.toString(),
            maxConcurrency: 8,
            stake: "1000",
            eligible: true,
            lastHeartbeat: Date.now(),
            heartbeatTimeout: 3_600_000
        })
    )
    await ao.send(owner, token, {Action: "Mint", Quantity: "100000"})
    for (const [who, quantity] of [
        [alice, "10000"],
        [bob, "50"]
    ] as const) {
        await ao.send(owner, token, {Action: "Transfer", Recipient: who.address, Quantity: quantity})
        await ao.must(who, token, {Action: "Transfer", Recipient: escrow, Quantity: quantity, "X-Action": "Deposit"})
    }
})

const balance = async (who: string) => (await owner.client.read(escrow, {Action: "Balance", Recipient: who})).tags
const readTask = async (id: string) => await owner.client.readJson<Record<string, unknown>>(escrow, {Action: "Task", "Task-Id": id})

/** An Infer as Apus's API reference writes it: no Data, the prompt in X-Prompt. */
const apusInfer = async (who: Actor, reference: string, tags: Record<string, string> = {}) =>
    await ao.send(who, escrow, {Action: "Infer", "X-Prompt": PROMPT, "X-Reference": reference, ...tags})

function result(taskId: string) {
    return ao.must(
        worker,
        escrow,
        {
            Action: "Task-Result",
            "Task-Id": taskId,
            "Input-Tokens": "12",
            "Output-Tokens": "30",
            "Receipt-Tx": fakeId(`receipt-${taskId}`),
            "Receipt-Hash": hex(`receipt-${taskId}`)
        },
        "I am a weavelm worker."
    )
}

/** The Infer-Response of a refused request: beside Infer-Error, Apus's failure shape with the same text. */
function expectRefused(trace: Trace, who: Actor, reference: string, error: RegExp) {
    const refused = trace.find({Action: "Infer-Error"})
    expect(refused.target).toBe(who.address)
    expect(refused.tags.Error).toMatch(error)
    const response = trace.find({Action: "Infer-Response"})
    expect(response.target).toBe(who.address)
    expect(response.tags).toMatchObject({Code: "400", Message: refused.tags.Error, "X-Reference": reference})
    expect(response.data).toBe(refused.tags.Error)
    expect(trace.filter({Action: "Task-Assigned"})).toEqual([])
}

describe("Apus-compatible requests", () => {
    it("runs an Apus-style Infer as a task, locking the worst case, and answers Infer-Response with the attestation", async () => {
        const trace = await apusInfer(alice, "apus-1", {"X-Options": JSON.stringify({temperature: 0.7, max_tokens: 40})})
        const accepted = trace.find({Action: "Infer-Accepted"})
        expect(accepted.tags["X-Reference"]).toBe("apus-1")
        const id = accepted.tags["Task-Id"]!
        const assigned = trace.find({Action: "Task-Assigned"})
        expect(assigned.target).toBe(worker.address)
        expect(assigned.tags).toMatchObject({Model: model.id, "Max-Tokens": "40", Temperature: "0.7", "Top-P": "1", Format: "text"})
        expect(assigned.data).toBe(PROMPT)
        expect(trace.filter({Action: "Infer-Response"})).toEqual([])

        // ceil((1000 * (12 + 16) + 3001 * 40) / 1000) = 149, owner floor(149 * 5%) = 7
        const maxFee = worstCase(PROMPT, 40)
        expect(maxFee).toBe("156")
        expect(await readTask(id)).toMatchObject({maxFee, locked: maxFee, apus: true, perCall: false})
        expect(await balance(alice.address)).toMatchObject({Balance: String(10000 - 156), Locked: maxFee})

        const done = await result(id)
        const delivered = done.find({Action: "Infer-Result"})
        const response = done.find({Action: "Infer-Response"})
        expect(response.target).toBe(alice.address)
        expect(response.tags).toMatchObject({"X-Reference": "apus-1", "Task-Id": id})
        expect(response.tags.Code).toBeUndefined()
        expect(JSON.parse(response.data)).toEqual({
            result: "I am a weavelm worker.",
            attestation: {
                receiptTx: fakeId(`receipt-${id}`),
                receiptHash: hex(`receipt-${id}`),
                taskId: id,
                challengeDeadline: Number(delivered.tags["Challenge-Deadline"]),
                worker: worker.address,
                fee: delivered.tags.Fee
            }
        })
    })

    it("takes model and max_fee from X-Options with the keys Apus's library repeats, and answers a refund with Code 503", async () => {
        const options = {model: model.id, max_fee: "900", seed: 7, top_k: 5, top_p: 0.5, session: "", reference: "apus-2"}
        const trace = await apusInfer(alice, "apus-2", {"X-Options": JSON.stringify(options)})
        const id = trace.find({Action: "Infer-Accepted"}).tags["Task-Id"]!
        expect(trace.find({Action: "Task-Assigned"}).tags).toMatchObject({Seed: "7", "Top-K": "5", "Top-P": "0.5"})
        expect(await readTask(id)).toMatchObject({maxFee: "900", locked: "900", apus: true})

        const failed = await ao.must(worker, escrow, {Action: "Task-Failed", "Task-Id": id, Error: "out of memory"})
        const refunded = failed.find({Action: "Infer-Refunded"})
        const response = failed.find({Action: "Infer-Response"})
        expect(response.target).toBe(alice.address)
        expect(response.tags).toMatchObject({Code: "503", Message: refunded.tags.Error, "X-Reference": "apus-2", "Task-Id": id})
        expect(response.tags.Message).toMatch(/out of memory; Max-Attempts reached/)
        expect(response.data).toBe(refunded.tags.Error)
        expect(await balance(alice.address)).toMatchObject({Locked: "156"})
    })

    it.each([
        [
            "an unsupported option",
            {"X-Options": JSON.stringify({stream: true, max_tokens: 10})},
            /^Unsupported X-Options stream: supported are/
        ],
        ["a session", {"X-Session": "session-1"}, /^X-Session is not supported/],
        ["X-Options that are not a JSON object", {"X-Options": '["x"]'}, /^X-Options must be a JSON object$/],
        ["max_tokens above 32768", {"X-Options": JSON.stringify({max_tokens: 40000})}, /^Max-Tokens must be at most 32768$/],
        ["an unknown model", {"X-Options": JSON.stringify({model: "gpt-imaginary"})}, /^Unknown model gpt-imaginary$/],
        ["a model named twice", {Model: model.name, "X-Options": JSON.stringify({model: model.name})}, /^Give Model once/]
    ])("refuses an Apus-style Infer with %s in both forms, locking nothing", async (_label, tags: Record<string, string>, error) => {
        const {Balance, Locked} = await balance(alice.address)
        expectRefused(await apusInfer(alice, "bad", tags), alice, "bad", error)
        expect(await balance(alice.address)).toMatchObject({Balance, Locked})
    })

    it("refuses a request whose deposit cannot cover the default Max-Fee", async () => {
        const trace = await apusInfer(bob, "poor")
        // the default max_tokens, 256: ceil((1000 * 28 + 3001 * 256) / 1000) = 797, owner 39
        expect(worstCase(PROMPT, 256)).toBe("836")
        expectRefused(trace, bob, "poor", /^The deposit 50 cannot cover Max-Fee 836, the worst-case fee of the priciest available worker/)
        expect(await balance(bob.address)).toMatchObject({Balance: "50", Locked: "0"})
    })

    it("reads an Infer with a Data prompt as a plain Infer, and refuses a malformed Default-Model", async () => {
        const plain = await ao.send(alice, escrow, {Action: "Infer", "X-Prompt": PROMPT, Model: model.name}, "Data prompt")
        expect(plain.find({Action: "Infer-Error"}).tags.Error).toBe("Max-Fee is required")
        expect(plain.filter({Action: "Infer-Response"})).toEqual([])

        const configure = await ao.send(owner, escrow, {Action: "Configure", "Default-Model": "no spaces"})
        expect(configure.find({Action: "Configure-Error"}).tags.Error).toMatch(/Default-Model must be a Model-Id or a model Name/)
        expect((await owner.client.read(escrow, {Action: "Info"})).tags["Default-Model"]).toBe(model.name)
    })

    it("serves a dApp written for Apus's router once it points at the escrow", async () => {
        const dapp = await ao.deployFile(owner, apusDappFile)
        await ao.send(owner, token, {Action: "Transfer", Recipient: dapp, Quantity: "2000"})
        await owner.client.eval(
            dapp,
            `Router = "${escrow}"
            ao.send({ Target = "${token}", Action = "Transfer", Recipient = Router, Quantity = "2000", ["X-Action"] = "Deposit" })`
        )
        expect((await balance(dapp)).Balance).toBe("2000")

        await owner.client.eval(dapp, `AskRouter("${PROMPT}", "dapp-1", { max_tokens = 40, temperature = 0 })`)
        const task = (await owner.client.readJson<Array<{id: string; requester: string}>>(escrow, {Action: "Tasks", Requester: dapp}))[0]!
        await result(task.id)
        await owner.client.eval(dapp, `AskRouter("${PROMPT}", "dapp-2", { stop = { "\\n" } })`)

        const read = await owner.client.eval(dapp, "return require('json').encode(Responses)")
        const responses = JSON.parse((read.Output as {data: string}).data) as Record<string, Record<string, unknown>>
        expect(responses["dapp-1"]).toMatchObject({result: "I am a weavelm worker.", attestation: {taskId: task.id}})
        expect(responses["dapp-2"]).toMatchObject({code: "400", message: expect.stringMatching(/^Unsupported X-Options stop/)})
    })
})
