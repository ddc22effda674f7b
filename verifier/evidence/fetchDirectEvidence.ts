import {z} from "zod"
import type {PulledModel} from "../../model-publisher/index.ts"
import type {TaskRecord} from "../../sdk/escrow/schemas.ts"
import {decodeReceipt, hashReceiptBytes, type Receipt} from "../../sdk/receipt/index.ts"
import type {ExpectedTask} from "../types.ts"
import type {GatewayReader} from "./gatewayReads.ts"
import {TaskEvidenceError, type TaskEvidence} from "./TaskEvidence.ts"

/** A worker's Receipt-Batch upload (worker/http/Settlement.ts): each receipt's stored bytes, base64. */
const ReceiptBatchSchema = z.object({channel: z.string(), receipts: z.array(z.string())})

/** A verification report's optional copy of the prompt (`weavelm challenge --receipt --prompt-file`). */
const EvidencePromptSchema = z.object({prompt: z.string()})

export interface DirectEvidenceSources {
    reader: GatewayReader
    /** The prompt, when the caller has it; otherwise the challenge's evidence may carry it. */
    prompt?: string
    /** The task's model, pulled into the verified cache. */
    pull: () => Promise<PulledModel>
}

/**
 * The evidence of a challenged direct request (docs/protocol.md, escrow "Disputes"): the receipt
 * whose SHA-256 is Receipt-Hash, found in the Receipt-Batch the challenge names (Receipt-Tx). The
 * batch must be signed by the channel's worker and tagged with the channel, and the receipt must be
 * of the challenged request; otherwise the challenge names nothing the worker committed to and the
 * evidence is `unfounded` (the verdict: valid). The prompt text is not on Arweave for a direct
 * request: the caller's, else the one the challenger's evidence report carries, else none (the
 * prompt checks are skipped; the re-score uses the receipt's own input tokens).
 */
export async function fetchDirectEvidence(task: TaskRecord, sources: DirectEvidenceSources): Promise<TaskEvidence> {
    const {reader} = sources
    const notes: string[] = []
    const batchTx = task.receiptTx
    const {receiptHash, channel, worker} = task
    if (batchTx == null || receiptHash == null || channel == null || worker == null)
        throw new TaskEvidenceError("no-result", `the direct request ${task.id} names no Receipt-Batch, receipt, channel or worker`)
    let batchBytes: Uint8Array
    try {
        batchBytes = await reader.data(batchTx)
    } catch (error) {
        throw new TaskEvidenceError(
            "receipt-unavailable",
            `the Receipt-Batch ${batchTx} of request ${task.id} cannot be read: ${(error as Error).message}`
        )
    }
    const owner = await reader.owner(batchTx)
    if (owner == null) throw new TaskEvidenceError("receipt-unavailable", `the gateway cannot say who signed the Receipt-Batch ${batchTx}`)
    const receiptTags = await reader.tags(batchTx)

    const found = findReceipt(batchBytes, receiptHash)
    const unfounded =
        owner !== worker
            ? `the Receipt-Batch ${batchTx} is signed by ${owner}, not by the channel's worker ${worker}`
            : receiptTags?.Type !== "Receipt-Batch" || receiptTags.Channel !== channel
              ? `the upload ${batchTx} is not a Receipt-Batch of channel ${channel}`
              : found == null
                ? `the Receipt-Batch ${batchTx} holds no receipt with SHA-256 ${receiptHash}`
                : null
    let receipt: Receipt | null = null
    let receiptError: string | undefined
    if (found != null) {
        try {
            receipt = decodeReceipt(found)
        } catch (error) {
            receiptError = `the stored receipt is not a receipt: ${(error as Error).message.slice(0, 300)}`
        }
    }
    const otherRequest =
        receipt != null && receipt.taskId !== task.id
            ? `the receipt is of request ${receipt.taskId}, not of the challenged ${task.id}`
            : null

    const prompt = sources.prompt != null ? {text: sources.prompt, source: "input" as const} : await evidencePrompt(reader, task, notes)
    const model = await sources.pull()
    if (task.modelSha256 != null && model.sha256 !== task.modelSha256)
        throw new TaskEvidenceError(
            "model-mismatch",
            `the task names model ${task.model} with SHA-256 ${task.modelSha256}, the registry now ${model.sha256}`
        )
    const expected: ExpectedTask = {
        taskId: task.id,
        modelId: task.model,
        ...(task.modelSha256 == null ? {} : {modelSha256: task.modelSha256}),
        ...(prompt == null ? {} : {prompt: prompt.text}),
        receiptHash
    }
    const reason = unfounded ?? otherRequest
    return {
        task,
        receiptTx: batchTx,
        receiptBytes: found ?? new Uint8Array(),
        receipt,
        ...(receiptError == null ? {} : {receiptError}),
        receiptTags,
        prompt,
        model,
        expected,
        notes,
        ...(reason == null ? {} : {unfounded: reason})
    }
}

/** The receipt in a Receipt-Batch whose bytes hash to `receiptHash`; null when there is none (or the batch is not one). */
function findReceipt(batchBytes: Uint8Array, receiptHash: string): Uint8Array | null {
    let batch: z.infer<typeof ReceiptBatchSchema>
    try {
        batch = ReceiptBatchSchema.parse(JSON.parse(Buffer.from(batchBytes).toString("utf8")))
    } catch {
        return null
    }
    for (const encoded of batch.receipts) {
        const bytes = new Uint8Array(Buffer.from(encoded, "base64"))
        if (hashReceiptBytes(bytes) === receiptHash) return bytes
    }
    return null
}

/** The prompt the challenger's evidence report carries, if any. */
async function evidencePrompt(
    reader: GatewayReader,
    task: TaskRecord,
    notes: string[]
): Promise<{text: string; source: "evidence"} | null> {
    const evidenceTx = task.dispute?.evidenceTx
    if (evidenceTx != null) {
        try {
            const parsed = EvidencePromptSchema.safeParse(JSON.parse(Buffer.from(await reader.data(evidenceTx)).toString("utf8")))
            if (parsed.success) return {text: parsed.data.prompt, source: "evidence"}
        } catch (error) {
            notes.push(`the evidence ${evidenceTx} cannot be read: ${(error as Error).message}`)
            return null
        }
    }
    notes.push("the prompt of a direct request is not on Arweave and the evidence carries none: the prompt checks are skipped")
    return null
}
