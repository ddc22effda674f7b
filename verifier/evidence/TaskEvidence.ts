import type {PulledModel} from "../../model-publisher/index.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import type {TaskRecord} from "../../sdk/escrow/schemas.ts"
import type {Receipt} from "../../sdk/receipt/index.ts"
import type {ExpectedTask} from "../types.ts"
import type {PromptSource} from "./gatewayReads.ts"

/** What `verifyReceipt` needs of a task; an escrow task and a challenged direct request give the same shape. */
export interface TaskEvidence {
    task: TaskRecord
    receiptTx: string
    /** The receipt exactly as stored: what Receipt-Hash is computed over. */
    receiptBytes: Uint8Array
    /** The bytes decoded; null when they are not a receipt (`receiptError` says why), itself a failure of the worker. */
    receipt: Receipt | null
    receiptError?: string
    /** The receipt upload's tags (GraphQL); null when the gateway could not say. */
    receiptTags: Record<string, string> | null
    prompt: {text: string; source: PromptSource} | null
    model: PulledModel
    /** What the task says, for `verifyReceipt`. */
    expected: ExpectedTask
    /** Things worth a look that do not decide the verdict: missing prompt, upload tags that disagree with the task. */
    notes: string[]
    /** A direct request's challenge names no receipt the worker committed to: why (the verdict is then valid). */
    unfounded?: string
}

export type TaskEvidenceErrorCode = "task-not-found" | "no-result" | "receipt-unavailable" | "model-mismatch"

/** The evidence cannot be gathered; `code` says which part is missing. */
export class TaskEvidenceError extends WeaveLMError {
    public override readonly name = "TaskEvidenceError"
    public override readonly kind = "user"

    public constructor(
        public readonly code: TaskEvidenceErrorCode,
        message: string
    ) {
        super(message)
    }
}
