/** Prices are per 1000 tokens (processes/lib/fees.lua). */
const PRICE_UNIT = 1000n
const BASIS_POINTS = 10_000n
/** Tokens a chat template or BOS may add to a prompt beyond one per UTF-8 byte. */
const TEMPLATE_TOKENS = 16

export interface FeeTerms {
    /** The worker's Price-Input: token base units per 1000 input tokens. */
    priceInput: string | bigint
    /** The worker's Price-Output: token base units per 1000 output tokens. */
    priceOutput: string | bigint
    /** The model owner's Owner-Fee in basis points, paid on top of the worker's share. */
    ownerFeeBps: number
}

/**
 * The fee for a generation, as the escrow's `fees.split` computes it (without
 * the Max-Fee cap): the worker's share rounded up, the owner's share on it
 * rounded down. The one copy of this formula in TypeScript.
 */
export function taskFee(
    {priceInput, priceOutput, ownerFeeBps}: FeeTerms,
    {inputTokens, outputTokens}: {inputTokens: number; outputTokens: number}
) {
    const units = BigInt(priceInput) * BigInt(inputTokens) + BigInt(priceOutput) * BigInt(outputTokens)
    const worker = (units + PRICE_UNIT - 1n) / PRICE_UNIT
    const owner = (worker * BigInt(ownerFeeBps)) / BASIS_POINTS
    return {worker, owner, total: worker + owner}
}

/**
 * Input tokens a prompt can take before the worker tokenizes it: a
 * byte-fallback tokenizer needs at most one token per UTF-8 byte, plus a few
 * for BOS and the chat template.
 */
export function promptTokensBound(promptBytes: number): number {
    return promptBytes + TEMPLATE_TOKENS
}

/** Audit-Rate is in parts per million (processes/lib/selection.lua). */
const PPM = 1_000_000n

/**
 * The slash that makes faking a result of `fee` a loss when a share `auditRate / 10^6` of results
 * is checked: `ceil(fee * 10^6 / auditRate)` (docs/protocol.md, escrow "Bond and slash"). A
 * worker takes a task only when its stake covers this for its quote.
 */
export function deterrentSlash(fee: string | bigint, auditRate: number): bigint {
    return (BigInt(fee) * PPM + BigInt(auditRate) - 1n) / BigInt(auditRate)
}

/** What an Invalid verdict asks the registry to slash: the deterrent slash, a numeric Slash-Amount as its floor; `all`: everything. */
export function slashQuantity({slashAmount, auditRate}: {slashAmount: string; auditRate: number}, fee: string | bigint): bigint | "all" {
    if (slashAmount === "all") return "all"
    const deterrent = deterrentSlash(fee, auditRate)
    return BigInt(slashAmount) > deterrent ? BigInt(slashAmount) : deterrent
}

/**
 * The least bond a challenge of a result of `fee` puts up: a full committee's fees plus the fee,
 * and never below Challenge-Bond.
 */
export function leastBond(
    {challengeBond, refereeCount, refereeFee}: {challengeBond: string; refereeCount: number; refereeFee: string},
    fee: string | bigint
): bigint {
    const least = BigInt(refereeFee) * BigInt(refereeCount) + BigInt(fee)
    return least > BigInt(challengeBond) ? least : BigInt(challengeBond)
}
