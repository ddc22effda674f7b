export {verifyReceipt, VerifierSetupError} from "./verify/verifyReceipt.ts"
export {structuralChecks} from "./verify/structuralChecks.ts"
export type {StructuralInput} from "./verify/structuralChecks.ts"
export {judgePositions} from "./verify/judgePositions.ts"
export type {Judgement, JudgeInput} from "./verify/judgePositions.ts"
export {CPU_THRESHOLDS, GPU_THRESHOLDS, hardwareClassOf, thresholdsFor, weightClassOf} from "./thresholds.ts"
export type {HardwareClass, VerificationThresholds, WeightClass} from "./thresholds.ts"
export {judgeSampledToken, replayDraws, UNREPLAYABLE_SEED} from "./sampling/samplerChain.ts"
export type {ChainSettings, ReplayJudgement, SampledTokenJudgement} from "./sampling/samplerChain.ts"
export {Mt19937} from "./sampling/mt19937.ts"
export {verifierModelOptions} from "./verifierModelOptions.ts"
export type {VerifierModelOptions} from "./verifierModelOptions.ts"
export type {
    CheckStatus,
    ExpectedTask,
    PositionReport,
    StructuralCheck,
    VerificationReport,
    VerifierModel,
    VerifyReceiptOptions
} from "./types.ts"
export {fetchTaskEvidence} from "./evidence/fetchTaskEvidence.ts"
export type {FetchTaskEvidenceOptions, TaskEvidenceSources} from "./evidence/fetchTaskEvidence.ts"
export {TaskEvidenceError} from "./evidence/TaskEvidence.ts"
export type {TaskEvidence, TaskEvidenceErrorCode} from "./evidence/TaskEvidence.ts"
export {fetchReceiptEvidence, ReceiptFileError} from "./evidence/fetchReceiptEvidence.ts"
export type {
    FetchReceiptEvidenceOptions,
    LocalReceiptSources,
    NetworkReceiptSources,
    ReceiptEvidence,
    ReceiptModel
} from "./evidence/fetchReceiptEvidence.ts"
export type {PromptSource} from "./evidence/gatewayReads.ts"
export {VerifierModels} from "./models/VerifierModels.ts"
export type {DisposableVerifierModel, VerifierModelSource, VerifierModelsOptions} from "./models/VerifierModels.ts"
export {disputedPosition, verifyReceiptBytes, verifyTask} from "./verifyTask.ts"
export type {Verification} from "./verifyTask.ts"
export {publishVerification, verificationDocument, verificationTags} from "./report/verificationDocument.ts"
export type {VerificationDocument, VerificationDocumentInput} from "./report/verificationDocument.ts"
export {watchResults} from "./watch/watchResults.ts"
export type {WatchedResult, WatchResultsOptions, WatchSummary} from "./watch/watchResults.ts"
