import type {Accounting} from "./Accounting.ts"
import {drawWorker, type Candidate} from "./drawWorker.ts"
import type {EscrowBook, MirrorModel, Task} from "./EscrowBook.ts"
import type {Expected} from "./evaluation.ts"
import {check, fail} from "./guard.ts"

/** What an Infer asks for, once its tags are read (inferRequest.ts). */
export interface InferRequest {
    model: MirrorModel
    maxTokens: number
    prompt: string
}

/** Who pays for a new task and how: from an escrow balance, or per call with the tokens that came with it. */
export interface Funding {
    maxFee: bigint
    locked: bigint
    requester: string
    perCall: boolean
    reference?: string
}

/** How a task moves (start, reassignment, refund, settlement, the lapse of its deadlines) and what each move emits. */
export class TaskLifecycle {
    public constructor(
        private readonly book: EscrowBook,
        private readonly accounting: Accounting
    ) {}

    /** Stores task `id` assigned to a drawn worker, locking its Max-Fee; refused when no worker can take it. */
    public start(id: string, req: InferRequest, funding: Funding, now: number): Expected[] {
        check(!this.book.tasks.has(id), `Task ${id} exists`)
        if (!funding.perCall) {
            const available = this.book.balanceOf(funding.requester)
            check(funding.maxFee <= available, `Max-Fee ${funding.maxFee} is above the available balance ${available}`)
        }
        const task: Task = {
            id,
            seq: this.book.order.length + 1,
            requester: funding.requester,
            perCall: funding.perCall,
            reference: funding.reference,
            model: req.model.id,
            modelName: req.model.name,
            modelSha256: req.model.sha256,
            modelOwner: req.model.owner,
            ownerFeeBps: req.model.ownerFee,
            maxTokens: req.maxTokens,
            prompt: req.prompt,
            maxFee: funding.maxFee,
            locked: funding.locked,
            state: "Assigned",
            worker: "",
            held: [],
            attempt: 0,
            priceInput: 0n,
            priceOutput: 0n,
            quote: 0n,
            deadline: 0
        }
        const {pick, reason} = drawWorker(this.book, task, now)
        if (!pick) return fail(reason!)
        if (!funding.perCall) this.book.debit(funding.requester, funding.maxFee, "balance")
        this.book.order.push(task.id)
        const assigned = this.assign(task, pick, now)
        this.book.tasks.set(task.id, task)
        this.accounting.stats.created++
        if (funding.perCall) this.accounting.stats.perCallCreated++
        const accepted: Expected = {
            target: funding.requester,
            tags: {Action: "Infer-Accepted", "Task-Id": task.id, Worker: task.worker, Deadline: String(task.deadline)}
        }
        if (funding.perCall) accepted.tags["X-Reference"] = funding.reference
        return [accepted, assigned]
    }

    /** Takes a task from its worker: to another drawn worker while attempts remain, else refunded. Appends to `out`. */
    public release(task: Task, reason: string, now: number, out: Expected[]) {
        let why = "Max-Attempts reached"
        if (task.attempt < this.book.params.maxAttempts) {
            const {pick, reason: none} = drawWorker(this.book, task, now)
            if (pick) {
                out.push(this.assign(task, pick, now))
                return out
            }
            why = none!
        }
        this.refund(task, `${reason}; ${why}`, out)
        return out
    }

    /**
     * The lazy upkeep every escrow message runs first: settles tasks whose challenge window has closed and
     * revokes (with a strike) tasks whose worker missed the deadline.
     */
    public upkeep(now: number) {
        const out: Expected[] = []
        const settledNow = new Set<string>()
        for (const task of this.book.openTasks()) {
            if (task.state === "Completed" && now > task.challengeDeadline!) {
                out.push(...this.settle(task))
                settledNow.add(task.id)
            } else if (task.state === "Assigned" && now > task.deadline) {
                const silent = task.worker
                this.accounting.stats.revoked++
                out.push(
                    {target: silent, tags: {Action: "Task-Revoked", "Task-Id": task.id}},
                    {
                        target: this.book.params.registry!,
                        tags: {Action: "Record-Outcome", Worker: silent, Outcome: "Strike", "Task-Id": task.id}
                    }
                )
                this.release(task, `worker ${silent} missed the deadline`, now, out)
            }
        }
        return {out, settledNow}
    }

    private assign(task: Task, pick: Candidate, now: number): Expected {
        task.attempt++
        task.worker = pick.worker.address
        task.held.push(pick.worker.address)
        task.priceInput = pick.worker.priceInput
        task.priceOutput = pick.worker.priceOutput
        task.quote = pick.quote
        task.deadline = now + this.book.params.taskTimeout
        this.book.moveTask(task, "Assigned")
        if (task.attempt > 1) this.accounting.stats.reassigned++
        return {
            target: task.worker,
            tags: {
                Action: "Task-Assigned",
                "Task-Id": task.id,
                Requester: task.requester,
                Model: task.model,
                "Model-SHA256": task.modelSha256,
                "Max-Tokens": String(task.maxTokens),
                Deadline: String(task.deadline),
                Attempt: String(task.attempt),
                "Prompt-Message": task.id
            },
            data: task.prompt === "" ? undefined : task.prompt
        }
    }

    /** Per-call tokens go back by transfer; a direct requester's go back to its escrow balance. */
    private payBack(task: Task, qty: bigint, out: Expected[], reason: string) {
        if (qty === 0n) return
        if (task.perCall)
            out.push({
                target: this.book.params.token!,
                tags: {
                    Action: "Transfer",
                    Recipient: task.requester,
                    Quantity: String(qty),
                    "X-Task-Id": task.id,
                    "X-Refund-Reason": reason,
                    "X-Reference": task.reference
                }
            })
        else this.book.credit(task.requester, qty)
    }

    private refund(task: Task, reason: string, out: Expected[]) {
        this.payBack(task, task.locked, out, reason)
        task.refund = task.locked
        this.book.moveTask(task, "Refunded")
        this.accounting.stats.refunded++
        out.push({
            target: task.requester,
            tags: {Action: "Infer-Refunded", "Task-Id": task.id, Refund: String(task.locked), "X-Reference": task.reference},
            error: reason
        })
    }

    private settle(task: Task): Expected[] {
        const out: Expected[] = []
        const fee = task.fee!,
            workerFee = task.workerFee!,
            ownerFee = task.ownerFee!
        const refund = task.locked - fee
        if (workerFee !== 0n) this.book.credit(task.worker, workerFee)
        if (ownerFee !== 0n) this.book.credit(task.modelOwner, ownerFee)
        this.payBack(task, refund, out, "Unused Max-Fee")
        task.refund = refund
        this.book.moveTask(task, "Settled")
        this.accounting.stats.settled++
        this.accounting.allow(task.requester, -fee)
        this.accounting.allow(task.worker, workerFee)
        this.accounting.allow(task.modelOwner, ownerFee)
        const notice = (target: string, reference?: string): Expected => ({
            target,
            tags: {
                Action: "Task-Settled",
                "Task-Id": task.id,
                Fee: String(fee),
                "Worker-Fee": String(workerFee),
                "Owner-Fee": String(ownerFee),
                Refund: String(refund),
                "X-Reference": reference
            }
        })
        out.push(notice(task.worker), notice(task.requester, task.reference))
        out.push({
            target: this.book.params.registry!,
            tags: {Action: "Record-Outcome", Worker: task.worker, Outcome: "Completed", "Task-Id": task.id}
        })
        return out
    }
}
