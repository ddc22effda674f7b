const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b

/** fees.quote: the most a task of `maxTokens` output tokens can cost, the model owner's share included. */
export function quoteOf(priceOutput: bigint, maxTokens: number, ownerFeeBps: number) {
    const work = ceilDiv(priceOutput * BigInt(maxTokens), 1000n)
    return work + (work * BigInt(ownerFeeBps)) / 10000n
}

/** fees.split: the worker's and the model owner's fees for the tokens used, scaled down together to fit Max-Fee. */
export function splitFee(
    priceInput: bigint,
    priceOutput: bigint,
    ownerFeeBps: number,
    inputTokens: number,
    outputTokens: number,
    maxFee: bigint
) {
    const bps = BigInt(ownerFeeBps)
    let worker = ceilDiv(priceInput * BigInt(inputTokens) + priceOutput * BigInt(outputTokens), 1000n)
    let owner = (worker * bps) / 10000n
    if (worker + owner > maxFee) {
        owner = (maxFee * bps) / (10000n + bps)
        worker = maxFee - owner
    }
    return {worker, owner, total: worker + owner}
}
