import type {ModelRecord, WorkerRecord} from "../registry/index.ts"
import {promptTokensBound, taskFee} from "./fees.ts"

/**
 * The Max-Fee that covers a request on any worker serving the model, so the
 * fee is never capped below what the worker is owed. Input tokens are unknown
 * before the worker tokenizes the prompt; `promptTokensBound` bounds them.
 */
export function quoteMaxFee({
    model,
    workers,
    promptBytes,
    maxTokens
}: {
    model: ModelRecord
    workers: WorkerRecord[]
    promptBytes: number
    maxTokens: number
}): string | null {
    const serving = workers.filter((w) => w.eligible && w.models.includes(model.id))
    if (serving.length === 0) return null
    const inputTokens = promptTokensBound(promptBytes)
    let worst = 0n
    for (const worker of serving) {
        const {total} = taskFee(
            {priceInput: worker.priceInput, priceOutput: worker.priceOutput, ownerFeeBps: model.ownerFee},
            {inputTokens, outputTokens: maxTokens}
        )
        if (total > worst) worst = total
    }
    return (worst > 0n ? worst : 1n).toString()
}
