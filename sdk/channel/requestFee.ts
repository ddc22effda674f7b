import {promptTokensBound, taskFee, type FeeTerms} from "../escrow/index.ts"

/**
 * The most a request can cost before it runs: the task fee formula with the prompt's UTF-8 bytes
 * plus 16 as input tokens and `maxTokens` as output tokens. Both sides compute it from the same
 * `DirectRequest` (`prompt` is the text the receipt hashes), so they agree to the unit.
 */
export function requestFeeBound(terms: FeeTerms, {prompt, maxTokens}: {prompt: string; maxTokens: number}): bigint {
    return taskFee(terms, {inputTokens: promptTokensBound(Buffer.byteLength(prompt, "utf8")), outputTokens: maxTokens}).total
}

/** What a finished request costs: the task fee formula on the tokens the receipt records. */
export function requestFee(terms: FeeTerms, {inputTokens, outputTokens}: {inputTokens: number; outputTokens: number}): bigint {
    return taskFee(terms, {inputTokens, outputTokens}).total
}
