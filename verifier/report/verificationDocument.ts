import type {Tag} from "../../sdk/ao/index.ts"
import {hashReceiptBytes, type Engine} from "../../sdk/receipt/index.ts"
import type {StorageBackend} from "../../sdk/storage/index.ts"
import type {PromptSource} from "../evidence/gatewayReads.ts"
import type {VerificationReport} from "../types.ts"

/**
 * A verification as stored on Arweave (tag `Type: Verification`): the evidence a challenger names
 * in Evidence-Tx and a referee in Report-Tx. Everything needed to see why, without re-running it.
 */
export interface VerificationDocument {
    version: 1
    /** The task verified; null for a receipt checked on its own. */
    taskId: string | null
    /** Where the receipt was read; null for a local file. */
    receiptTx: string | null
    /** SHA-256 of the receipt bytes judged. */
    receiptHash: string
    model: {id: string; sha256: string}
    /** The address that verified (and signs the upload). */
    verifier: string
    /** Set when a referee verified for a challenge. */
    challengeId?: string
    verdict: VerificationReport["verdict"]
    firstBadPosition: number | null
    checked: number
    reasons: string[]
    /** Things the evidence gathering noticed that do not decide the verdict. */
    notes: string[]
    promptSource: PromptSource | null
    /**
     * The prompt text, when a challenger of a direct request has it: it is not on Arweave otherwise,
     * and the referees check it against the receipt's prompt hash.
     */
    prompt?: string
    /** The kernels the re-score ran with. */
    engine: Engine
    structural: VerificationReport["structural"]
    aggregate: VerificationReport["aggregate"]
    thresholds: VerificationReport["thresholds"]
    /** What decided: the one-pass re-score, or a decode replay (then `rescore` says what the re-score found). */
    decidedBy: VerificationReport["decidedBy"]
    rescore?: VerificationReport["rescore"]
    positions: VerificationReport["positions"]
    /** Milliseconds since the epoch. */
    verifiedAt: number
}

export interface VerificationDocumentInput {
    report: VerificationReport
    receiptBytes: Uint8Array
    model: {id: string; sha256: string}
    verifier: string
    engine: Engine
    taskId?: string
    receiptTx?: string
    challengeId?: string
    notes?: string[]
    promptSource?: PromptSource | null
    prompt?: string
}

export function verificationDocument(input: VerificationDocumentInput): VerificationDocument {
    const {report} = input
    return {
        version: 1,
        taskId: input.taskId ?? null,
        receiptTx: input.receiptTx ?? null,
        receiptHash: hashReceiptBytes(input.receiptBytes),
        model: input.model,
        verifier: input.verifier,
        ...(input.challengeId == null ? {} : {challengeId: input.challengeId}),
        verdict: report.verdict,
        firstBadPosition: report.firstBadPosition,
        checked: report.checked,
        reasons: report.reasons,
        notes: input.notes ?? [],
        promptSource: input.promptSource ?? null,
        ...(input.prompt == null ? {} : {prompt: input.prompt}),
        engine: input.engine,
        structural: report.structural,
        aggregate: report.aggregate,
        thresholds: report.thresholds,
        decidedBy: report.decidedBy,
        ...(report.rescore == null ? {} : {rescore: report.rescore}),
        positions: report.positions,
        verifiedAt: Date.now()
    }
}

/**
 * The upload's tags: App-Name `weavelm`, Type `Verification`, Verdict in the protocol's spelling
 * (`Valid` or `Invalid`, as in Referee-Verdict), and what was verified, so that a gateway query finds
 * every verification of a task or receipt.
 */
export function verificationTags(document: VerificationDocument): Tag[] {
    const tags: Array<[string, string | number | null | undefined]> = [
        ["Content-Type", "application/json"],
        ["App-Name", "weavelm"],
        ["Type", "Verification"],
        ["Task-Id", document.taskId],
        ["Receipt-Tx", document.receiptTx],
        ["Receipt-Hash", document.receiptHash],
        ["Model-Id", document.model.id],
        ["Verdict", document.verdict === "valid" ? "Valid" : "Invalid"],
        ["First-Bad-Position", document.firstBadPosition],
        ["Checked", document.checked],
        ["Challenge-Id", document.challengeId]
    ]
    return tags.filter((tag): tag is [string, string | number] => tag[1] != null).map(([name, value]) => ({name, value: String(value)}))
}

/** Stores the document on Arweave; resolves with its transaction id. */
export async function publishVerification(storage: StorageBackend, document: VerificationDocument): Promise<string> {
    const {id} = await storage.uploadData(JSON.stringify(document), verificationTags(document))
    return id
}
