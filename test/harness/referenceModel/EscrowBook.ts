import {sum} from "./collections.ts"
import {check} from "./guard.ts"

/** The escrow's copy of a registry model, as Sync-Model delivers it. */
export interface MirrorModel {
    id: string
    sha256: string
    name: string
    owner: string
    ownerFee: number
}
/** The escrow's copy of a registry worker, as Sync-Worker delivers it. */
export interface MirrorWorker {
    address: string
    models: string[]
    priceInput: bigint
    priceOutput: bigint
    stake: bigint
    maxConcurrency: number
    eligible: boolean
    lastHeartbeat: number
    heartbeatTimeout: number
    reputation: {completed: number; strikes: number; slashed: number}
}

export type TaskState = "Assigned" | "Completed" | "Settled" | "Refunded"
export interface Task {
    id: string
    seq: number
    requester: string
    perCall: boolean
    reference?: string
    model: string
    modelName: string
    modelSha256: string
    modelOwner: string
    ownerFeeBps: number
    maxTokens: number
    prompt: string
    maxFee: bigint
    locked: bigint
    state: TaskState
    worker: string
    held: string[]
    attempt: number
    priceInput: bigint
    priceOutput: bigint
    quote: bigint
    deadline: number
    fee?: bigint
    workerFee?: bigint
    ownerFee?: bigint
    challengeDeadline?: number
    refund?: bigint
}

/** processes/lib/tasks.lua's transition table; "" is a task not yet stored. */
const transitions: Record<string, TaskState[]> = {"": ["Assigned"], Assigned: ["Assigned", "Completed", "Refunded"], Completed: ["Settled"]}

/** The escrow's state: its parameters, requesters' balances, the task table, and its mirror of the registry. */
export class EscrowBook {
    public readonly params = {
        token: undefined as string | undefined,
        registry: undefined as string | undefined,
        challengeWindow: 3600000,
        taskTimeout: 300000,
        maxAttempts: 3,
        auditRate: 1000000
    }
    public readonly balances = new Map<string, bigint>()
    public readonly tasks = new Map<string, Task>()
    /** Task ids in creation order. */
    public readonly order: string[] = []
    public readonly counts = new Map<TaskState, number>()
    public readonly models = new Map<string, MirrorModel>()
    public readonly workers = new Map<string, MirrorWorker>()

    public balanceOf(who: string) {
        return this.balances.get(who) ?? 0n
    }

    public credit(who: string, qty: bigint) {
        this.balances.set(who, this.balanceOf(who) + qty)
    }

    public debit(who: string, qty: bigint, what: string) {
        const have = this.balanceOf(who)
        check(qty <= have, `Insufficient ${what}: have ${have}, need ${qty}`)
        if (have - qty === 0n) this.balances.delete(who)
        else this.balances.set(who, have - qty)
    }

    /** Tasks still holding their requester's tokens, oldest first. */
    public openTasks() {
        return [...this.tasks.values()].filter((t) => t.state === "Assigned" || t.state === "Completed").sort((a, b) => a.seq - b.seq)
    }

    /** What open tasks lock, all of them or `who`'s. */
    public locked(who?: string) {
        return sum(
            this.openTasks()
                .filter((t) => who === undefined || t.requester === who)
                .map((t) => t.locked)
        )
    }

    /** What the escrow owes: every balance plus what open tasks lock; its token balance must equal it. */
    public liabilities() {
        return sum(this.balances.values()) + this.locked()
    }

    /** Moves a task to `to`, keeping the per-state counts; a move the transition table lacks is a bug in the model. */
    public moveTask(task: Task, to: TaskState) {
        const from = this.tasks.has(task.id) ? task.state : ""
        if (!(transitions[from] ?? []).includes(to)) throw new Error(`model: task ${task.id} cannot go from ${from} to ${to}`)
        if (from !== "") this.counts.set(from as TaskState, (this.counts.get(from as TaskState) ?? 0) - 1)
        this.counts.set(to, (this.counts.get(to) ?? 0) + 1)
        task.state = to
    }
}
