import {expect} from "vitest"
import type {Accounting} from "./Accounting.ts"
import {sortedKeys} from "./collections.ts"
import type {Evaluation, Expected} from "./evaluation.ts"
import {check, guarded} from "./guard.ts"
import {Input, parseAmount, positive} from "./input.ts"
import {parseWorkerTerms, type WorkerTerms} from "./workerTerms.ts"

export interface ModelRecord {
    id: string
    sha256: string
    name: string
    format: string
    architecture: string
    quantization: string
    parameters: number
    contextLength: number
    license: string
    ownerFee: number
    owner: string
    registeredAt: number
    updatedAt: number
}
export interface RegistryWorker extends WorkerTerms {
    address: string
    registeredAt: number
    lastHeartbeat: number
    reputation: {completed: number; strikes: number; slashed: number}
}
export interface StakeRecord {
    staked: bigint
    unstaking: bigint
    availableAt: number
}

/** processes/registry.lua: models, workers, stakes and their cooldowns, and what it syncs to the escrow. */
export class RegistryModel {
    public readonly params = {
        token: undefined as string | undefined,
        escrow: undefined as string | undefined,
        minStake: 1000n,
        unstakeCooldown: 604800000,
        heartbeatTimeout: 600000
    }
    public readonly models = new Map<string, ModelRecord>()
    /** Model name to the id that holds it. */
    public readonly names = new Map<string, string>()
    public readonly workers = new Map<string, RegistryWorker>()
    public readonly stakes = new Map<string, StakeRecord>()

    public constructor(
        private readonly owner: string,
        private readonly accounting: Accounting
    ) {}

    public stakeOf(address: string): StakeRecord {
        return this.stakes.get(address) ?? {staked: 0n, unstaking: 0n, availableAt: 0}
    }

    public stakeTotals() {
        let staked = 0n,
            unstaking = 0n
        for (const s of this.stakes.values()) {
            staked += s.staked
            unstaking += s.unstaking
        }
        return {staked, unstaking}
    }

    public predict(ev: Evaluation): Expected[] {
        if (ev.tags.Action === "Debit-Notice") return []
        const input = Input.of(ev.tags)
        return guarded(ev, () => {
            switch (ev.tags.Action) {
                case "Configure":
                    return this.configure(ev, input)
                case "Register-Model":
                    return this.registerModel(ev, input)
                case "Credit-Notice":
                    return this.stake(ev, input)
                case "Register-Worker":
                    return this.registerWorker(ev, input)
                case "Update-Worker": {
                    const terms = parseWorkerTerms(input, ev.tags, true, (id) => this.models.has(id))
                    Object.assign(this.registered(ev.from), terms)
                    return [{target: ev.from, tags: {Action: "Update-Worker-Notice", Worker: ev.from}}, ...this.syncWorker(ev.from)]
                }
                case "Heartbeat": {
                    this.registered(ev.from).lastHeartbeat = ev.timestamp
                    return [
                        {target: ev.from, tags: {Action: "Heartbeat-Notice", Timestamp: String(ev.timestamp)}},
                        ...this.syncWorker(ev.from)
                    ]
                }
                case "Unstake":
                    return this.unstake(ev, input)
                case "Withdraw":
                    return this.withdraw(ev)
                case "Record-Outcome": {
                    check(this.params.escrow !== undefined && ev.from === this.params.escrow, "Only the escrow may send Record-Outcome")
                    const worker = input.id("Worker")
                    const counter = ({Completed: "completed", Strike: "strikes"} as const)[
                        input.required("Outcome") as "Completed" | "Strike"
                    ]
                    check(counter !== undefined, "Outcome must be Completed or Strike")
                    this.registered(worker).reputation[counter]++
                    return this.syncWorker(worker)
                }
                case "Slash": {
                    check(this.params.escrow !== undefined && ev.from === this.params.escrow, "Only the escrow may send Slash")
                    throw new Error("model: the escrow never slashes in these sequences")
                }
                default:
                    throw new Error(`model: registry got an unexpected ${ev.tags.Action}`)
            }
        })
    }

    private configure(ev: Evaluation, input: Input): Expected[] {
        const p = this.params
        check(ev.from === this.owner, "Only the owner may configure the registry")
        const minStakeRaw = input.optional("Min-Stake")
        const optionalId = (name: string, current: string | undefined) => (input.optional(name) === undefined ? current : input.id(name))
        const updated = {
            token: optionalId("Token", p.token),
            escrow: optionalId("Escrow", p.escrow),
            minStake: minStakeRaw !== undefined ? parseAmount(minStakeRaw, "Min-Stake") : p.minStake,
            unstakeCooldown: input.integer("Unstake-Cooldown", {min: 0, max: 1e13, def: p.unstakeCooldown}),
            heartbeatTimeout: input.integer("Heartbeat-Timeout", {min: 1, max: 1e13, def: p.heartbeatTimeout})
        }
        check(updated.token === p.token || this.stakes.size === 0, "Token cannot change while stakes are held")
        const previous = {...p}
        Object.assign(p, updated)
        const out: Expected[] = [
            {
                target: ev.from,
                tags: {
                    Action: "Configure-Notice",
                    Token: p.token,
                    Escrow: p.escrow,
                    "Min-Stake": String(p.minStake),
                    "Unstake-Cooldown": String(p.unstakeCooldown),
                    "Heartbeat-Timeout": String(p.heartbeatTimeout)
                }
            }
        ]
        const newEscrow = p.escrow !== previous.escrow
        if (newEscrow) for (const m of [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) out.push(...this.syncModel(m))
        if (newEscrow || p.minStake !== previous.minStake || p.heartbeatTimeout !== previous.heartbeatTimeout)
            for (const address of sortedKeys(this.workers)) out.push(...this.syncWorker(address))
        return out
    }

    private registerModel(ev: Evaluation, input: Input): Expected[] {
        const id = input.id("Model-Id")
        const sha256 = input.required("SHA-256")
        check(sha256.length === 64 && /^[0-9a-f]+$/.test(sha256), "SHA-256 must be 64 lowercase hex characters")
        const name = input.required("Name")
        check(name.length <= 64 && /^[A-Za-z0-9._-]+$/.test(name), "Name must be 1-64 characters of A-Z a-z 0-9 . _ -")
        const record: ModelRecord = {
            id,
            sha256,
            name,
            format: input.oneOf("Format", ["GGUF"]),
            architecture: input.text("Architecture", 64),
            quantization: input.text("Quantization", 64),
            parameters: input.integer("Parameters", {min: 1, max: 1e13}),
            contextLength: input.integer("Context-Length", {min: 1, max: 1e13}),
            license: input.text("License", 128),
            ownerFee: input.integer("Owner-Fee", {min: 0, max: 10000, def: 0}),
            owner: ev.from,
            registeredAt: ev.timestamp,
            updatedAt: ev.timestamp
        }
        const existing = this.models.get(id)
        check(existing === undefined || existing.owner === record.owner, `Model-Id ${id} is registered by another owner`)
        const holder = this.names.get(name)
        check(holder === undefined || holder === id, `Name ${name} is taken by another model`)
        if (existing) {
            this.names.delete(existing.name)
            record.registeredAt = existing.registeredAt
        }
        this.models.set(id, record)
        this.names.set(name, id)
        return [{target: ev.from, tags: {Action: "Register-Model-Notice", "Model-Id": id, Name: name}}, ...this.syncModel(record)]
    }

    private stake(ev: Evaluation, input: Input): Expected[] {
        const p = this.params
        check(ev.tags["X-Action"] === "Stake", "The registry accepts tokens only with X-Action=Stake")
        check(p.token !== undefined, "The registry has no token configured yet")
        check(ev.from === p.token, `Stakes are paid in token ${p.token}, not ${ev.from}`)
        const staker = input.id("Sender")
        const qty = positive(ev.tags.Quantity, "Quantity")
        const s = this.stakeOf(staker)
        s.staked += qty
        this.storeStake(staker, s)
        return [
            {
                target: staker,
                tags: {Action: "Stake-Notice", Quantity: String(qty), Stake: String(s.staked), "X-Reference": ev.tags["X-Reference"]}
            },
            ...this.syncWorker(staker)
        ]
    }

    private registerWorker(ev: Evaluation, input: Input): Expected[] {
        const terms = parseWorkerTerms(input, ev.tags, false, (id) => this.models.has(id))
        check(this.params.escrow !== undefined, "The registry has no escrow configured yet")
        check(!this.workers.has(ev.from), "Already registered; use Update-Worker")
        const staked = this.stakeOf(ev.from).staked
        check(this.params.minStake <= staked, `Stake ${staked} is below Min-Stake ${this.params.minStake}`)
        this.workers.set(ev.from, {
            address: ev.from,
            registeredAt: ev.timestamp,
            lastHeartbeat: ev.timestamp,
            reputation: {completed: 0, strikes: 0, slashed: 0},
            ...(terms as WorkerTerms)
        })
        return [{target: ev.from, tags: {Action: "Register-Worker-Notice", Worker: ev.from}}, ...this.syncWorker(ev.from)]
    }

    private unstake(ev: Evaluation, input: Input): Expected[] {
        const raw = input.optional("Quantity")
        const requested = raw === undefined ? undefined : positive(raw, "Quantity")
        const s = this.stakeOf(ev.from)
        check(s.staked !== 0n, "Nothing staked")
        const qty = requested ?? s.staked
        check(qty <= s.staked, `Quantity ${qty} is above the stake ${s.staked}`)
        s.staked -= qty
        s.unstaking += qty
        s.availableAt = ev.timestamp + this.params.unstakeCooldown
        this.storeStake(ev.from, s)
        return [
            {
                target: ev.from,
                tags: {Action: "Unstake-Notice", Quantity: String(qty), Stake: String(s.staked), "Available-At": String(s.availableAt)}
            },
            ...this.syncWorker(ev.from)
        ]
    }

    private withdraw(ev: Evaluation): Expected[] {
        const s = this.stakeOf(ev.from)
        check(s.unstaking !== 0n, "Nothing unstaked")
        check(ev.timestamp >= s.availableAt, `Cooldown not over: Available-At ${s.availableAt}`)
        const qty = s.unstaking
        s.unstaking = 0n
        this.storeStake(ev.from, s)
        this.accounting.stats.withdrawnStakes++
        return [
            {target: this.params.token!, tags: {Action: "Transfer", Recipient: ev.from, Quantity: String(qty)}},
            {target: ev.from, tags: {Action: "Withdraw-Notice", Quantity: String(qty)}}
        ]
    }

    private storeStake(address: string, s: StakeRecord) {
        if (s.unstaking === 0n) s.availableAt = 0
        if (s.staked === 0n && s.unstaking === 0n) this.stakes.delete(address)
        else this.stakes.set(address, s)
    }

    private registered(address: string) {
        const w = this.workers.get(address)
        check(w !== undefined, `Worker ${address} is not registered`)
        return w!
    }

    /** What Sync-Worker tells the escrow of a worker: its terms, stake, eligibility and liveness. */
    private syncRecord(address: string) {
        const w = this.workers.get(address)!
        const s = this.stakeOf(address)
        const record: Record<string, unknown> = {
            address,
            models: w.models,
            priceInput: w.priceInput,
            priceOutput: w.priceOutput,
            maxConcurrency: w.maxConcurrency,
            stake: String(s.staked),
            eligible: this.params.minStake <= s.staked,
            lastHeartbeat: w.lastHeartbeat,
            heartbeatTimeout: this.params.heartbeatTimeout,
            reputation: {...w.reputation},
            hardware: w.hardware
        }
        if (w.endpoint !== undefined) record.endpoint = w.endpoint
        return record
    }

    private syncWorker(address: string): Expected[] {
        if (this.params.escrow === undefined || !this.workers.has(address)) return []
        const record = this.syncRecord(address)
        return [{target: this.params.escrow, tags: {Action: "Sync-Worker"}, json: (v) => expect(v).toEqual(record)}]
    }

    private syncModel(m: ModelRecord): Expected[] {
        if (this.params.escrow === undefined) return []
        const record = {
            id: m.id,
            sha256: m.sha256,
            name: m.name,
            format: m.format,
            architecture: m.architecture,
            quantization: m.quantization,
            parameters: m.parameters,
            contextLength: m.contextLength,
            license: m.license,
            ownerFee: m.ownerFee,
            owner: m.owner
        }
        return [{target: this.params.escrow, tags: {Action: "Sync-Model"}, json: (v) => expect(v).toEqual(record)}]
    }
}
