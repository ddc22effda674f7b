import {pullModel as defaultPullModel, type PulledModel, type PullModelOptions} from "../../model-publisher/index.ts"
import {decodeReceipt, type Receipt} from "../../sdk/receipt/index.ts"
import type {RegistryClient} from "../../sdk/registry/index.ts"
import type {RetryOptions} from "../../sdk/storage/index.ts"
import type {ExpectedTask} from "../types.ts"
import {gatewayReader, readPromptText, type PromptSource} from "./gatewayReads.ts"
import {TaskEvidenceError} from "./fetchTaskEvidence.ts"

export interface FetchReceiptEvidenceOptions {
    /** The receipt's bytes as the caller holds them (a file, not necessarily what is on Arweave). */
    receiptBytes: Uint8Array
    registry: RegistryClient
    /** Arweave gateway URL: the prompt by the receipt's reference, the model. */
    gateway: string
    /** Model cache root, as for `pullModel`. */
    cacheDir: string
    /** The prompt text, when the caller has it; otherwise read by the receipt's `prompt.tx` or `prompt.messageId`. */
    prompt?: string
    fetch?: typeof fetch
    pullModel?: (options: PullModelOptions) => Promise<PulledModel>
    retry?: RetryOptions
}

export interface ReceiptEvidence {
    receipt: Receipt
    receiptBytes: Uint8Array
    prompt: {text: string, source: PromptSource} | null
    model: PulledModel
    /** What can be held against a receipt without its task: the prompt's text and the registry's model hash. */
    expected: ExpectedTask
    notes: string[]
}

/** The bytes are not a receipt: nothing names the model or prompt to check them against. */
export class ReceiptFileError extends Error {
    public override readonly name = "ReceiptFileError"
}

/**
 * Gathers what `verifyReceipt` needs for a receipt held locally, without its task: the model the
 * receipt names (pulled by Model-Id, whose registered SHA-256 must be the receipt's) and the prompt
 * (the caller's, else from the gateway by the receipt's reference). Task-level checks (Receipt-Hash,
 * counts, sampling, output) are `skipped`: only the escrow's record could say what the task was.
 */
export async function fetchReceiptEvidence(options: FetchReceiptEvidenceOptions): Promise<ReceiptEvidence> {
    const {receiptBytes, registry, cacheDir, retry} = options
    const gateway = options.gateway.replace(/\/$/, "")
    const pull = options.pullModel ?? defaultPullModel
    const notes: string[] = []

    let receipt: Receipt
    try {
        receipt = decodeReceipt(receiptBytes)
    } catch (error) {
        throw new ReceiptFileError(`not a receipt: ${(error as Error).message.replace(/\s+/g, " ").slice(0, 300)}`)
    }
    const prompt = options.prompt != null
        ? {text: options.prompt, source: "input" as const}
        : await readPromptText(gatewayReader({gateway, fetch: options.fetch, retry}), {promptTx: receipt.prompt.tx, promptMessage: receipt.prompt.messageId}, notes)
    const model = await pull({ref: receipt.model.id, registry, gateway, cacheDir, retry})
    if (model.sha256 !== receipt.model.sha256)
        throw new TaskEvidenceError("model-mismatch", `the receipt names model ${receipt.model.id} with SHA-256 ${receipt.model.sha256}, the registry ${model.sha256}`)
    const expected: ExpectedTask = {
        modelId: model.model.id,
        modelSha256: model.sha256,
        ...(prompt == null ? {} : {prompt: prompt.text})
    }
    return {receipt, receiptBytes, prompt, model, expected, notes}
}
