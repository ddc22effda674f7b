import type {TagValues} from "../../../sdk/ao/index.ts"
import type {Actor} from "../memoryAo.ts"
import type {ProcessIds, ReferenceModel} from "../referenceModel/index.ts"
import type {Cast} from "./cast.ts"

/** One step of a run: a message to send, or a pause that lets deadlines pass. */
export interface Action {
    kind: string
    actor: Actor
    target: string
    tags: TagValues
    data?: string
    /** The Action whose `-Error` the inputs make certain, if any. */
    refused?: string
    sleep?: number
}

/** mulberry32: small, seedable, good enough to draw actions. */
export function prng(seed: number) {
    let a = seed >>> 0
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0
        let t = a
        t = Math.imul(t ^ (t >>> 15), t | 1)
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    return {
        next,
        int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
        pick: <T>(items: readonly T[]): T => {
            if (items.length === 0) throw new Error("pick from an empty list")
            return items[Math.floor(next() * items.length)]!
        },
        chance: (p: number) => next() < p
    }
}
export type Rng = ReturnType<typeof prng>

/** What every action generator draws from: the seeded choices, the state as the model has it, and who plays which part. */
export interface Stage {
    rng: Rng
    model: ReferenceModel
    cast: Cast
    ids: ProcessIds
    /** The whole cast, the owner first. */
    actors: Actor[]
    stakers: Actor[]
    requesters: Actor[]
    workersByAddress: Map<string, Actor>
}

/** A generator returns nothing when there is nothing to act on (no task awaiting a result, say). */
export type Generator = (stage: Stage, step: number) => Action | undefined

/** Anyone but the owner. */
export const someone = ({rng, actors}: Stage) => rng.pick(actors.slice(1))

/** An amount: mostly valid and affordable, sometimes malformed, zero or above what is there. */
export function amount(rng: Rng, max: bigint, invalidRate = 0.08): {value: string; invalid: boolean} {
    if (rng.chance(invalidRate)) return {value: rng.pick(["-5", "0", "1.5", "abc", "9".repeat(39), "1e3", " 12", "0x10"]), invalid: true}
    if (max <= 0n || rng.chance(0.08)) return {value: String(max + BigInt(rng.int(1, 5000))), invalid: false}
    return {value: String(1n + BigInt(Math.floor(rng.next() * Number(max < 50000n ? max : 50000n)))), invalid: false}
}
