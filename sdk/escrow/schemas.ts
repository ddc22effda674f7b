import {z} from "zod"

export const TASK_STATES = ["Assigned", "Completed", "Challenged", "Settled", "Refunded", "Invalidated"] as const

/** A task as the escrow's `Task` read reports it; fields appear as the task advances. */
export const TaskRecordSchema = z.object({
    id: z.string(),
    state: z.string(),
    requester: z.string(),
    worker: z.string().optional(),
    model: z.string(),
    modelSha256: z.string().optional(),
    maxTokens: z.coerce.number(),
    temperature: z.string(),
    topK: z.coerce.number(),
    topP: z.string(),
    seed: z.coerce.number(),
    format: z.string(),
    maxFee: z.string(),
    attempt: z.coerce.number(),
    deadline: z.coerce.number().optional(),
    promptMessage: z.string().optional(),
    promptTx: z.string().optional(),
    fee: z.string().optional(),
    workerFee: z.string().optional(),
    ownerFee: z.string().optional(),
    inputTokens: z.coerce.number().optional(),
    outputTokens: z.coerce.number().optional(),
    receiptTx: z.string().optional(),
    receiptHash: z.string().optional(),
    output: z.string().optional(),
    challengeDeadline: z.coerce.number().optional()
}).loose()
export type TaskRecord = z.infer<typeof TaskRecordSchema>
