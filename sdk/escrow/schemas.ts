import {z} from "zod"

export const TASK_STATES = ["Assigned", "Completed", "Challenged", "Settled", "Refunded", "Invalidated"] as const

export const DISPUTE_VERDICTS = ["Valid", "Invalid", "Undecided"] as const

/** A dispute's stages: the commit-reveal that seeds the committee's draw, the votes, the end (or a lapse). */
export const DISPUTE_STAGES = ["Seeding", "Voting", "Resolved", "Lapsed"] as const

/** aos json writes an empty table as `[]`, so an empty map of votes arrives as a list. */
const emptyListAsObject = (value: unknown) => (Array.isArray(value) && value.length === 0 ? {} : value)

/** A referee's vote as the dispute records it. */
export const DisputeVoteSchema = z.object({
    verdict: z.enum(["Valid", "Invalid"]),
    reportTx: z.string(),
    at: z.coerce.number()
})
export type DisputeVote = z.infer<typeof DisputeVoteSchema>

/**
 * A task's `dispute` (docs/protocol.md, escrow "Reads"): the challenge, its committee and votes, and
 * once decided the verdict and what was paid; fields appear as the dispute advances.
 */
export const DisputeRecordSchema = z
    .object({
        /** The Challenge-Id: the id of the message that carried the challenge. */
        id: z.string(),
        challenger: z.string(),
        bond: z.string(),
        /** The bond came by token transfer (and goes back that way). */
        perCall: z.boolean(),
        reference: z.string().optional(),
        position: z.coerce.number(),
        evidenceTx: z.string(),
        challengedAt: z.coerce.number(),
        stage: z.enum(DISPUTE_STAGES).optional(),
        /** SHA-256 (hex) of the challenger's secret. */
        seedCommit: z.string().optional(),
        seedDeadline: z.coerce.number().optional(),
        revealDeadline: z.coerce.number().optional(),
        /** The worker's seed, once sent; absent when it sent none. */
        workerSeed: z.string().optional(),
        seededAt: z.coerce.number().optional(),
        /** Once revealed: the secret, the draw's seed and when. */
        secret: z.string().optional(),
        drawSeed: z.string().optional(),
        revealedAt: z.coerce.number().optional(),
        /** The Reveal-Deadline while Seeding, then the Referee-Deadline. */
        deadline: z.coerce.number(),
        /** Empty until the reveal draws it. */
        committee: z.array(z.string()),
        refereeCount: z.coerce.number().optional(),
        quorum: z.coerce.number(),
        votes: z.preprocess(emptyListAsObject, z.record(z.string(), DisputeVoteSchema)),
        refereeFee: z.string(),
        refereeTimeout: z.coerce.number().optional(),
        challengerShare: z.coerce.number(),
        slashAmount: z.string(),
        auditRate: z.coerce.number().optional(),
        lapsedAt: z.coerce.number().optional(),
        verdict: z.enum(DISPUTE_VERDICTS).optional(),
        resolution: z.enum(["Quorum", "Deadline"]).optional(),
        resolvedAt: z.coerce.number().optional(),
        valid: z.coerce.number().optional(),
        invalid: z.coerce.number().optional(),
        majority: z.array(z.string()).optional(),
        struck: z.array(z.string()).optional(),
        refereePay: z.string().optional(),
        workerShare: z.string().optional(),
        slashRequested: z.string().optional(),
        slashed: z.string().optional(),
        proceeds: z.string().optional(),
        reward: z.string().optional(),
        treasury: z.string().optional(),
        distributedAt: z.coerce.number().optional()
    })
    .loose()
export type DisputeRecord = z.infer<typeof DisputeRecordSchema>

/** A task as the escrow's `Task` read reports it; fields appear as the task advances. */
export const TaskRecordSchema = z
    .object({
        id: z.string(),
        state: z.string(),
        requester: z.string(),
        worker: z.string().optional(),
        model: z.string(),
        modelSha256: z.string().optional(),
        // Absent from a direct request's record (`direct`, `channel`): its receipt holds the sampling.
        maxTokens: z.coerce.number().optional(),
        temperature: z.string().optional(),
        topK: z.coerce.number().optional(),
        topP: z.string().optional(),
        seed: z.coerce.number().optional(),
        format: z.string().optional(),
        maxFee: z.string().optional(),
        attempt: z.coerce.number(),
        /** A direct request challenged by its receipt: id is the paying voucher's id, receiptTx its Receipt-Batch. */
        direct: z.boolean().optional(),
        channel: z.string().optional(),
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
        challengeDeadline: z.coerce.number().optional(),
        dispute: DisputeRecordSchema.optional(),
        /** Earlier challenges that lapsed (never revealed): their bonds went to the treasury. */
        lapsed: z.array(DisputeRecordSchema).optional()
    })
    .loose()
export type TaskRecord = z.infer<typeof TaskRecordSchema>
