import {hashPrompt, type Receipt, type Sampling} from "../../sdk/receipt/index.ts"
import type {ModelRecord} from "../../sdk/registry/index.ts"
import type {Generation} from "../engine/index.ts"

export interface ReceiptInput {
    /** The task id, or for a direct request the id of the voucher that paid for it. */
    taskId: string
    worker: string
    model: Pick<ModelRecord, "id" | "sha256">
    /** The prompt exactly as generate() was given it. */
    prompt: string
    format: "text" | "chat"
    /** Where the prompt came from, when it travelled through AO or Arweave. */
    promptMessage?: string
    promptTx?: string
    sampling: Sampling
    generation: Generation
    /** When generation started (ms since the epoch). */
    startedAt: number
    log: string[]
}

/** The receipt of one generation, the same for AO tasks and direct requests. */
export function buildReceipt({
    taskId,
    worker,
    model,
    prompt,
    format,
    promptMessage,
    promptTx,
    sampling,
    generation,
    startedAt,
    log
}: ReceiptInput): Receipt {
    return {
        version: 1,
        taskId,
        worker,
        model: {id: model.id, sha256: model.sha256},
        prompt: {format, sha256: hashPrompt(prompt), messageId: promptMessage, tx: promptTx},
        sampling,
        engine: generation.engine,
        inputTokens: generation.inputTokens,
        outputTokens: generation.outputTokens,
        output: generation.output,
        stopReason: generation.stopReason,
        tokens: generation.tokens,
        timings: {startedAt, promptMs: generation.timings.promptMs, generationMs: generation.timings.generationMs},
        log
    }
}
