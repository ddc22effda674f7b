import type {ModelRecord, WorkerRecord} from "../registry/index.ts"

/**
 * The Max-Fee that covers a request on any worker serving the model, so the
 * fee is never capped below what the worker is owed. Input tokens are unknown
 * before the worker tokenizes the prompt; a byte-fallback tokenizer needs at
 * most one token per UTF-8 byte plus a few for the template, which bounds them.
 */
export function quoteMaxFee({model, workers, promptBytes, maxTokens}: {
    model: ModelRecord, workers: WorkerRecord[], promptBytes: number, maxTokens: number
}): string | null {
    const serving = workers.filter((w) => w.eligible && w.models.includes(model.id))
    if (serving.length === 0) return null
    const inputTokens = BigInt(promptBytes + 16)
    let worst = 0n
    for (const worker of serving) {
        const units = BigInt(worker.priceInput) * inputTokens + BigInt(worker.priceOutput) * BigInt(maxTokens)
        const workerFee = (units + 999n) / 1000n
        const total = workerFee + workerFee * BigInt(model.ownerFee) / 10_000n
        if (total > worst) worst = total
    }
    return (worst > 0n ? worst : 1n).toString()
}
