/** How often each way through a task, and each refusal, happened over a run. */
export interface Stats {
    created: number
    perCallCreated: number
    completed: number
    settled: number
    refunded: number
    reassigned: number
    revoked: number
    failed: number
    withdrawnStakes: number
    refusedActions: number
}

/**
 * What the protocol lets the actors' holdings move by: transfers between actors, mints and settled fees.
 * Kept per step, so that the driver can hold every other movement to zero.
 */
export class Accounting {
    public readonly stats: Stats = {
        created: 0,
        perCallCreated: 0,
        completed: 0,
        settled: 0,
        refunded: 0,
        reassigned: 0,
        revoked: 0,
        failed: 0,
        withdrawnStakes: 0,
        refusedActions: 0
    }
    private allowed = new Map<string, bigint>()

    public constructor(public readonly isActor: (address: string) => boolean) {}

    public allow(who: string, delta: bigint) {
        this.allowed.set(who, this.allowedOf(who) + delta)
    }

    /** What `who`'s holdings may have moved by in this step. */
    public allowedOf(who: string) {
        return this.allowed.get(who) ?? 0n
    }

    public newStep() {
        this.allowed = new Map()
    }
}
