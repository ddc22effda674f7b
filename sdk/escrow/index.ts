export {EscrowClient, EscrowParametersSchema, TaskRefundedError} from "./EscrowClient.ts"
export type {
    AnnouncedResult,
    ChallengeAccepted,
    ChallengeCommitted,
    ChallengeRequest,
    ChallengeResolution,
    DirectChallengeTarget,
    EscrowClientOptions,
    EscrowParameters,
    InferAccepted,
    InferRequest,
    InferResult
} from "./EscrowClient.ts"
export {ChallengeSecretSchema, FileChallengeSecrets, MemoryChallengeSecrets, newChallengeSecret, seedCommitOf} from "./challengeSecrets.ts"
export type {ChallengeSecret, ChallengeSecretStore} from "./challengeSecrets.ts"
export {deterrentSlash, leastBond, promptTokensBound, slashQuantity, taskFee} from "./fees.ts"
export type {FeeTerms} from "./fees.ts"
export {quoteMaxFee} from "./quote.ts"
export {DISPUTE_STAGES, DISPUTE_VERDICTS, DisputeRecordSchema, DisputeVoteSchema, TASK_STATES, TaskRecordSchema} from "./schemas.ts"
export type {DisputeRecord, DisputeVote, TaskRecord} from "./schemas.ts"
