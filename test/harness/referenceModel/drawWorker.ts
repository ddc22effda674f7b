import {expectedDraw} from "../draw.ts"
import {sortedKeys} from "./collections.ts"
import type {EscrowBook, MirrorWorker, Task} from "./EscrowBook.ts"
import {quoteOf} from "./fees.ts"

export interface Candidate {
    worker: MirrorWorker
    quote: bigint
}
export type Draw = {pick: Candidate; reason?: undefined} | {pick?: undefined; reason: string}
type TaskTerms = Pick<Task, "id" | "attempt" | "model" | "modelName" | "ownerFeeBps" | "maxTokens" | "maxFee" | "held">

/**
 * The worker for a task's next attempt: a seeded draw weighted by stake and reputation among the live, eligible
 * workers serving its model that have not held it, fit its Max-Fee, stake the slash their quote needs and have
 * a free slot; or the reason none can, the first filter that left nobody.
 */
export function drawWorker(book: EscrowBook, task: TaskTerms, now: number): Draw {
    let serving = 0,
        affordable = 0,
        staked = 0
    let cheapest: bigint | undefined
    const free: Candidate[] = []
    const active = assignedPerWorker(book)
    for (const address of sortedKeys(book.workers)) {
        const w = book.workers.get(address)!
        if (w.models.includes(task.model) && w.eligible && now - w.lastHeartbeat <= w.heartbeatTimeout && !task.held.includes(address)) {
            serving++
            const quote = quoteOf(w.priceOutput, task.maxTokens, task.ownerFeeBps)
            if (cheapest === undefined || quote < cheapest) cheapest = quote
            if (quote <= task.maxFee) {
                affordable++
                // The stake must cover the deterrent slash of the quote: ceil(quote * 10^6 / Audit-Rate).
                const rate = BigInt(book.params.auditRate)
                if ((quote * 1000000n + rate - 1n) / rate <= w.stake) {
                    staked++
                    if ((active.get(address) ?? 0) < w.maxConcurrency) free.push({worker: w, quote})
                }
            }
        }
    }
    if (serving === 0) return {reason: `No available worker serves model ${task.modelName}`}
    if (affordable === 0) return {reason: `Max-Fee ${task.maxFee} is below the cheapest quote ${cheapest}`}
    if (staked === 0) {
        return {
            reason:
                `No worker serving model ${task.modelName} within Max-Fee stakes the slash its quote needs ` +
                `at Audit-Rate ${book.params.auditRate} ppm`
        }
    }
    if (free.length === 0) return {reason: `Every worker serving model ${task.modelName} within Max-Fee is busy`}
    const records = free.map((c) => ({...c, address: c.worker.address, stake: String(c.worker.stake), reputation: c.worker.reputation}))
    const {worker, quote} = expectedDraw(records, `${task.id}:${task.attempt + 1}`)
    return {pick: {worker, quote}}
}

function assignedPerWorker(book: EscrowBook) {
    const active = new Map<string, number>()
    for (const t of book.openTasks()) if (t.state === "Assigned") active.set(t.worker, (active.get(t.worker) ?? 0) + 1)
    return active
}
