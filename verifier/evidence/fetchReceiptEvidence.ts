import {pullModel as defaultPullModel, sha256File, type PulledModel, type PullModelOptions} from "../../model-publisher/index.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import {decodeReceipt, type Receipt} from "../../sdk/receipt/index.ts"
import type {RegistryClient} from "../../sdk/registry/index.ts"
import type {RetryOptions} from "../../sdk/storage/index.ts"
import type {ExpectedTask} from "../types.ts"
import {gatewayReader, readPromptText, type PromptSource} from "./gatewayReads.ts"
import {TaskEvidenceError} from "./TaskEvidence.ts"

interface ReceiptAtHand {
    /** The receipt's bytes as the caller holds them (a file, not necessarily what is on Arweave). */
    receiptBytes: Uint8Array
    /** The prompt text, when the caller has it; otherwise read by the receipt's `prompt.tx` or `prompt.messageId` (not offline). */
    prompt?: string
}

/** The receipt's model and prompt from the network: the registry and a gateway. */
export interface NetworkReceiptSources extends ReceiptAtHand {
    registry: RegistryClient
    /** Arweave gateway URL: the prompt by the receipt's reference, the model. */
    gateway: string
    /** Model cache root, as for `pullModel`. */
    cacheDir: string
    fetch?: typeof fetch
    pullModel?: (options: PullModelOptions) => Promise<PulledModel>
    retry?: RetryOptions
}

/** Offline: a local model file (whose SHA-256 must be the receipt's) and, optionally, the prompt; nothing is read from a network. */
export interface LocalReceiptSources extends ReceiptAtHand {
    modelFile: string
}

export type FetchReceiptEvidenceOptions = NetworkReceiptSources | LocalReceiptSources

/** The model a receipt is judged against: pulled by its Model-Id with the registry's record, or a local file with none. */
export type ReceiptModel = PulledModel | {path: string; sha256: string; model: null}

export interface ReceiptEvidence {
    receipt: Receipt
    receiptBytes: Uint8Array
    prompt: {text: string; source: PromptSource} | null
    model: ReceiptModel
    /** What can be held against a receipt without its task: the prompt's text and the model's hash. */
    expected: ExpectedTask
    notes: string[]
}

/** The bytes are not a receipt: nothing names the model or prompt to check them against. */
export class ReceiptFileError extends WeaveLMError {
    public override readonly name = "ReceiptFileError"
    public override readonly kind = "user"
}

/**
 * Gathers what `verifyReceipt` needs for a receipt held locally, without its task: the model the
 * receipt names and the prompt. From the network, the model is pulled by Model-Id (its registered
 * SHA-256 must be the receipt's) and the prompt is the caller's, else read from the gateway by the
 * receipt's reference. Offline (`modelFile`), the file's SHA-256 must be the receipt's and the
 * prompt is the caller's or none. Task-level checks (Receipt-Hash, counts, sampling, output) are
 * `skipped`: only the escrow's record could say what the task was.
 */
export async function fetchReceiptEvidence(options: FetchReceiptEvidenceOptions): Promise<ReceiptEvidence> {
    const {receiptBytes} = options
    let receipt: Receipt
    try {
        receipt = decodeReceipt(receiptBytes)
    } catch (error) {
        throw new ReceiptFileError(`not a receipt: ${(error as Error).message.replace(/\s+/g, " ").slice(0, 300)}`)
    }
    if ("modelFile" in options) return await localEvidence(receipt, options)

    const {registry, cacheDir, retry} = options
    const gateway = options.gateway.replace(/\/$/, "")
    const pull = options.pullModel ?? defaultPullModel
    const notes: string[] = []
    const prompt =
        options.prompt != null
            ? {text: options.prompt, source: "input" as const}
            : await readPromptText(
                  gatewayReader({gateway, fetch: options.fetch, retry}),
                  {promptTx: receipt.prompt.tx, promptMessage: receipt.prompt.messageId},
                  notes
              )
    const model = await pull({ref: receipt.model.id, registry, gateway, cacheDir, retry})
    if (model.sha256 !== receipt.model.sha256)
        throw new TaskEvidenceError(
            "model-mismatch",
            `the receipt names model ${receipt.model.id} with SHA-256 ${receipt.model.sha256}, the registry ${model.sha256}`
        )
    const expected: ExpectedTask = {
        modelId: model.model.id,
        modelSha256: model.sha256,
        ...(prompt == null ? {} : {prompt: prompt.text})
    }
    return {receipt, receiptBytes, prompt, model, expected, notes}
}

async function localEvidence(receipt: Receipt, {receiptBytes, modelFile, prompt}: LocalReceiptSources): Promise<ReceiptEvidence> {
    const sha256 = await sha256File(modelFile)
    if (sha256 !== receipt.model.sha256)
        throw new TaskEvidenceError(
            "model-mismatch",
            `the model file ${modelFile} has SHA-256 ${sha256}, the receipt names ${receipt.model.sha256}: not the receipt's model`
        )
    const notes = prompt == null ? ["no prompt given: the prompt's hash and tokens are not checked"] : []
    return {
        receipt,
        receiptBytes,
        notes,
        prompt: prompt == null ? null : {text: prompt, source: "input"},
        model: {path: modelFile, sha256, model: null},
        expected: {modelSha256: sha256, ...(prompt == null ? {} : {prompt})}
    }
}
