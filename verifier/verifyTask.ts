import type {Token} from "node-llama-cpp"
import type {Engine} from "../sdk/receipt/index.ts"
import type {RegistryClient} from "../sdk/registry/index.ts"
import {fetchReceiptEvidence, type FetchReceiptEvidenceOptions, type ReceiptEvidence} from "./evidence/fetchReceiptEvidence.ts"
import {fetchTaskEvidence, type FetchTaskEvidenceOptions} from "./evidence/fetchTaskEvidence.ts"
import type {TaskEvidence} from "./evidence/TaskEvidence.ts"
import type {VerifierModelSource} from "./models/VerifierModels.ts"
import {hardwareClassOf, type HardwareClass} from "./thresholds.ts"
import type {VerificationReport, VerifierModel, VerifyReceiptOptions} from "./types.ts"
import {unfoundedReport, verifyReceipt} from "./verify/verifyReceipt.ts"

/** A verification and what it was made from. */
export interface Verification<Evidence> {
    evidence: Evidence
    report: VerificationReport
    /** Each output token's text, for people reading the per-token table (`«id»` for an id outside the vocabulary). */
    tokenTexts: string[]
    /** The kernels the re-score ran with. */
    verifierEngine: Engine
}

/** Gathers a task's evidence (escrow, gateway, registry) and re-checks its receipt with `models`' model. */
export async function verifyTask(
    options: FetchTaskEvidenceOptions & Pick<VerifyReceiptOptions, "replay"> & {models: VerifierModelSource}
): Promise<Verification<TaskEvidence>> {
    const evidence = await fetchTaskEvidence(options)
    const model = await options.models.modelFor(evidence.model, evidence.receipt)
    if (evidence.unfounded != null)
        return {evidence, report: unfoundedReport(evidence.unfounded, model), tokenTexts: [], verifierEngine: model.engine}
    // Bytes that are not a receipt are still judged (as not one), so the verdict says so.
    const receipt = evidence.receipt ?? parseJson(evidence.receiptBytes)
    const hardware = await registeredHardware(options.registry, evidence.task.worker)
    const report = await verifyReceipt({
        receipt,
        receiptBytes: evidence.receiptBytes,
        expected: evidence.expected,
        model,
        hardware,
        replay: options.replay
    })
    return {evidence, report, tokenTexts: tokenTexts(model, evidence.receipt?.outputTokens ?? []), verifierEngine: model.engine}
}

/** Re-checks a receipt held locally (no task): against its model and prompt only. */
export async function verifyReceiptBytes(
    options: FetchReceiptEvidenceOptions & Pick<VerifyReceiptOptions, "replay"> & {models: VerifierModelSource}
): Promise<Verification<ReceiptEvidence>> {
    const evidence = await fetchReceiptEvidence(options)
    const model = await options.models.modelFor(evidence.model, evidence.receipt)
    const report = await verifyReceipt({
        receipt: evidence.receipt,
        receiptBytes: evidence.receiptBytes,
        expected: evidence.expected,
        model,
        replay: options.replay
    })
    return {evidence, report, tokenTexts: tokenTexts(model, evidence.receipt.outputTokens), verifierEngine: model.engine}
}

/**
 * Where the task's worker runs, as the registry records it: the profile follows this, never the
 * receipt's own `engine`. A worker the registry does not know (unregistered since) counts as a CPU worker.
 */
async function registeredHardware(registry: Pick<RegistryClient, "worker">, worker: string | undefined): Promise<HardwareClass> {
    if (worker == null) return "cpu"
    const record = await registry.worker(worker)
    return hardwareClassOf(record != null && "hardware" in record && typeof record.hardware === "string" ? record.hardware : undefined)
}

/** The output position a challenge disputes: the first bad one, or 0 when only the receipt as a whole failed. */
export function disputedPosition(report: VerificationReport): number {
    return report.firstBadPosition ?? 0
}

function tokenTexts(model: VerifierModel, tokens: readonly number[]): string[] {
    // detokenize() aborts the process on an id outside the vocabulary.
    return tokens.map((token) => (token < model.vocabularySize ? model.detokenize([token as Token], true) : `«${token}»`))
}

function parseJson(bytes: Uint8Array): unknown {
    const text = Buffer.from(bytes).toString("utf8")
    try {
        return JSON.parse(text)
    } catch {
        return text
    }
}
