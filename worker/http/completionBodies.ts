import type {Generation} from "../engine/index.ts"

/** What every response of one request shares. */
export interface CompletionShape {
    kind: "chat" | "completions"
    /** `chatcmpl-<voucher id>` or `cmpl-<voucher id>`. */
    id: string
    /** Unix seconds. */
    created: number
    /** The model's registered name. */
    model: string
}

/** The `weavelm` field of a response: what the request cost and what the channel owes now. */
export interface SettlementField {
    channel: string
    nonce: number
    fee: string
    cumulativeOwed: string
    receiptHash: string
}

export function finishReason(generation: Pick<Generation, "stopReason">): "stop" | "length" {
    return generation.stopReason === "eos" ? "stop" : "length"
}

/** The body of a `stream: false` response, in OpenAI's shape plus `weavelm`. */
export function completionBody(shape: CompletionShape, generation: Generation, settlement: SettlementField) {
    const {id, created, model, kind} = shape
    const reason = finishReason(generation)
    const choice =
        kind === "chat"
            ? {index: 0, message: {role: "assistant", content: generation.output}, finish_reason: reason, logprobs: null}
            : {index: 0, text: generation.output, finish_reason: reason, logprobs: null}
    return {
        id,
        object: kind === "chat" ? "chat.completion" : "text_completion",
        created,
        model,
        choices: [choice],
        usage: {
            prompt_tokens: generation.inputTokens.length,
            completion_tokens: generation.outputTokens.length,
            total_tokens: generation.inputTokens.length + generation.outputTokens.length
        },
        weavelm: settlement
    }
}
