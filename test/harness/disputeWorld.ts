import {createHash, randomBytes} from "node:crypto"
import {expect} from "vitest"
import {emittedBy, tagsFromRecord, type TagValues} from "../../sdk/ao/index.ts"
import {expectedCommittee, type DrawRecord} from "./draw.ts"
import type {Actor, MemoryAo} from "./memoryAo.ts"

/*
 * The token, registry and escrow of the memory-AO dispute tests wired to each
 * other, with the reads and the conservation invariant those tests check after
 * every path (docs/protocol.md, escrow "Disputes").
 */

export const sum = (values: Iterable<string | bigint>) => [...values].reduce<bigint>((a, b) => a + BigInt(b), 0n)

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex")

/** A challenger's secret (32 random bytes, hex) and the Seed-Commit a `Challenge` carries: SHA-256 of its text. */
export function challengeSecret(secret = randomBytes(32).toString("hex")) {
    return {secret, seedCommit: sha256Hex(secret)}
}

/** A worker's `Dispute-Seed`: 32 random bytes, hex. */
export const workerSeed = () => randomBytes(32).toString("hex")

/** The seed of a committee draw: SHA-256 of secret, worker seed (empty when none came) and Challenge-Id (docs/protocol.md, "Seeding the committee"). */
export const drawSeedOf = (secret: string, seed: string | null, challengeId: string) => sha256Hex(secret + (seed ?? "") + challengeId)

/** The committee the escrow draws at the reveal, from the candidates it kept at the challenge. */
export const revealedCommittee = (candidates: DrawRecord[], k: number, secret: string, seed: string | null, challengeId: string) =>
    expectedCommittee(candidates, k, `${drawSeedOf(secret, seed, challengeId)}:referee`)

export interface DisputeModel {
    id: string
    sha256: string
    name: string
}

export interface WorldOptions {
    registry: TagValues
    escrow: TagValues
}

interface TaskLocks {
    state: string
    locked: string
    dispute?: {bond: string}
}

export class DisputeWorld {
    /** Everything minted so far: the token's supply must stay exactly this. */
    public minted = 0n

    private constructor(
        public readonly ao: MemoryAo,
        public readonly owner: Actor,
        public readonly token: string,
        public readonly registry: string,
        public readonly escrow: string
    ) {}

    /** Deploys the three processes owned by `owner` and configures them with each other and `options`. */
    public static async deploy(ao: MemoryAo, owner: Actor, options: WorldOptions): Promise<DisputeWorld> {
        const token = await ao.deploy(owner, "token")
        const registry = await ao.deploy(owner, "registry")
        const escrow = await ao.deploy(owner, "escrow")
        await ao.must(owner, registry, {Action: "Configure", Token: token, Escrow: escrow, ...options.registry})
        await ao.must(owner, escrow, {Action: "Configure", Token: token, Registry: registry, ...options.escrow})
        return new DisputeWorld(ao, owner, token, registry, escrow)
    }

    public async mint(who: Actor, quantity: bigint) {
        await this.ao.must(this.owner, this.token, {Action: "Mint", Quantity: String(quantity), Recipient: who.address})
        this.minted += quantity
    }

    /** `modelOwner` registers `model` (the F32 toy the dispute tests use). */
    public async registerModel(modelOwner: Actor, model: DisputeModel, ownerFee = "500") {
        await this.ao.must(modelOwner, this.registry, {
            Action: "Register-Model",
            "Model-Id": model.id,
            "SHA-256": model.sha256,
            Name: model.name,
            Format: "GGUF",
            Architecture: "llama",
            Quantization: "F32",
            Parameters: "66000000",
            "Context-Length": "2048",
            License: "MIT",
            "Owner-Fee": ownerFee
        })
    }

    /** Each worker stakes its entry of `stakes` and registers for `model`. */
    public async registerWorkers(model: DisputeModel, workers: Actor[], stakes: string[]) {
        for (const [i, w] of workers.entries()) {
            await this.ao.must(w, this.token, {Action: "Transfer", Recipient: this.registry, Quantity: stakes[i]!, "X-Action": "Stake"})
            await this.ao.must(w, this.registry, {
                Action: "Register-Worker",
                Models: model.id,
                "Price-Input": "1000",
                "Price-Output": "2000",
                "Max-Concurrency": "8",
                Hardware: "cpu-test"
            })
        }
    }

    public async deposit(who: Actor, quantity: string) {
        await this.ao.must(who, this.token, {Action: "Transfer", Recipient: this.escrow, Quantity: quantity, "X-Action": "Deposit"})
    }

    /**
     * A dry-run read of the escrow, picking its `<Action>-Response`: the escrow's
     * upkeep runs first, and whatever it would send (a settlement due by now)
     * comes before the answer.
     */
    public async escrowRead(tags: TagValues) {
        const result = await this.ao.port.dryrun({process: this.escrow, tags: tagsFromRecord(tags), Owner: this.owner.address})
        const reply = emittedBy(result).find((m) => m.tags.Action === `${String(tags.Action)}-Response`)
        if (reply == null) throw new Error(`No ${String(tags.Action)}-Response: ${JSON.stringify(result)}`)
        return reply
    }

    public async tokenBalance(who: string) {
        return BigInt((await this.owner.client.read(this.token, {Action: "Balance", Recipient: who})).tags.Balance ?? "0")
    }

    /** `who`'s available escrow balance. */
    public async available(who: Actor) {
        return BigInt((await this.escrowRead({Action: "Balance", Recipient: who.address})).tags.Balance ?? "0")
    }

    /**
     * The conservation invariant, read from the processes: token supply = what was
     * minted = sum of balances; the escrow holds balances + locked (open tasks,
     * Challenged included) + bonds + what channels not Closed have not paid; the
     * registry holds stakes + unstaking. Escrow reads are real messages: a dry
     * run would run upkeep hypothetically.
     */
    public async expectConserved() {
        const {ao, owner, escrow, token, registry} = this
        for (let attempt = 1; ; attempt++) {
            const list = JSON.parse(
                (await ao.send(owner, escrow, {Action: "Tasks", Limit: "1000"})).find({Action: "Tasks-Response"}).data
            ) as TaskLocks[]
            const info = (await ao.send(owner, escrow, {Action: "Info"})).find({Action: "Info-Response"})
            const data = JSON.parse(info.data) as {balances: string; locked: string; bonds: string; treasury: string; channelFunds: string}
            const locked = sum(list.filter((t) => ["Assigned", "Completed", "Challenged"].includes(t.state)).map((t) => t.locked))
            const bonds = sum(list.filter((t) => t.state === "Challenged").map((t) => t.dispute!.bond))
            // A window or deadline that passed between the two reads: read again.
            if ((BigInt(data.locked) !== locked || BigInt(data.bonds) !== bonds) && attempt < 3) continue
            expect({locked: BigInt(data.locked), bonds: BigInt(data.bonds)}).toEqual({locked, bonds})
            expect(info.tags.Bonds).toBe(data.bonds)
            expect(info.tags.Treasury).toBe(data.treasury)
            expect(BigInt(info.tags.Liabilities!)).toBe(BigInt(data.balances) + locked + bonds + BigInt(data.channelFunds))
            expect(await this.tokenBalance(escrow)).toBe(BigInt(info.tags.Liabilities!))
            break
        }
        const reg = await owner.client.readJson<{totalStaked: string; totalUnstaking: string}>(registry, {Action: "Info"})
        expect(await this.tokenBalance(registry)).toBe(BigInt(reg.totalStaked) + BigInt(reg.totalUnstaking))
        const balances = await owner.client.readJson<Record<string, string>>(token, {Action: "Balances"})
        const supply = BigInt((await owner.client.read(token, {Action: "Info"})).tags["Total-Supply"]!)
        expect(sum(Object.values(balances))).toBe(supply)
        expect(supply).toBe(this.minted)
    }
}
