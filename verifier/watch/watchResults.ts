import type {AnnouncedResult, ChallengeAccepted, ChallengeRequest, EscrowClient} from "../../sdk/escrow/index.ts"
import type {RegistryClient} from "../../sdk/registry/index.ts"
import type {RetryOptions, StorageBackend} from "../../sdk/storage/index.ts"
import type {VerifierModelSource} from "../models/VerifierModels.ts"
import {publishVerification, verificationDocument} from "../report/verificationDocument.ts"
import type {VerifyReceiptOptions} from "../types.ts"
import {disputedPosition, verifyTask} from "../verifyTask.ts"

export interface WatchResultsOptions {
    escrow: Pick<EscrowClient, "results" | "task" | "challenge">
    registry: RegistryClient
    /** Arweave gateway URL. */
    gateway: string
    /** Model cache root, as for `pullModel`. */
    cacheDir: string
    models: VerifierModelSource
    /** When a decode replay decides (`VerifyReceiptOptions.replay`); default `"escalate"`. */
    replay?: VerifyReceiptOptions["replay"]
    /** Where reports go: the evidence of every challenge. */
    storage: StorageBackend
    /** The watchtower's address: it never challenges its own results. */
    address: string
    /** Share of results checked, from 0 to 1; each result is drawn independently. */
    sampleRate: number
    /** How to challenge an invalid result while its window is open; null only reports. */
    challenge: Pick<ChallengeRequest, "bond" | "bondFrom"> | null
    /** Also store the report of results that are not challenged. Defaults to `false`. */
    publishAll?: boolean
    /** The number in the escrow's results feed to start after; undefined: results announced from now on. */
    from?: number
    pollMs?: number
    retry?: RetryOptions
    /** Defaults to `Math.random`. */
    random?: () => number
    signal: AbortSignal
    /** Called once per checked result. */
    onChecked(checked: WatchedResult): void
}

/** What the watchtower made of one sampled result. */
export interface WatchedResult {
    taskId: string
    worker: string
    /** Null when the check itself could not be made (`error` says why). */
    verdict: "valid" | "invalid" | null
    firstBadPosition: number | null
    checked: number
    reasons: string[]
    reportTx: string | null
    challenge: (Pick<ChallengeAccepted, "challengeId" | "referees" | "refereeDeadline"> & {position: number}) | null
    /** An invalid result left alone: challenging is off, the window closed, our own result, or the escrow refused. */
    notChallenged?: string
    error?: string
    /** Time the check took. */
    ms: number
}

export interface WatchSummary {
    /** Results announced while watching. */
    seen: number
    checked: number
    invalid: number
    challenged: number
}

/**
 * A watchtower: follows every result the escrow announces, re-checks a random sample, and
 * challenges the invalid ones within their window, the report stored on Arweave as the evidence.
 * One result at a time; resolves when `signal` aborts, after the check under way.
 */
export async function watchResults(options: WatchResultsOptions): Promise<WatchSummary> {
    const random = options.random ?? Math.random
    const summary: WatchSummary = {seen: 0, checked: 0, invalid: 0, challenged: 0}
    for await (const result of options.escrow.results({from: options.from, signal: options.signal, pollMs: options.pollMs})) {
        summary.seen++
        if (!(random() < options.sampleRate)) continue
        const checked = await checkResult(options, result)
        summary.checked++
        if (checked.verdict === "invalid") summary.invalid++
        if (checked.challenge != null) summary.challenged++
        options.onChecked(checked)
    }
    return summary
}

async function checkResult(options: WatchResultsOptions, result: AnnouncedResult): Promise<WatchedResult> {
    const started = performance.now()
    const base = {taskId: result.taskId, worker: result.worker}
    let verification: Awaited<ReturnType<typeof verifyTask>>
    try {
        verification = await verifyTask({
            taskId: result.taskId,
            escrow: options.escrow,
            registry: options.registry,
            gateway: options.gateway,
            cacheDir: options.cacheDir,
            models: options.models,
            retry: options.retry,
            replay: options.replay
        })
    } catch (error) {
        return {
            ...base,
            verdict: null,
            firstBadPosition: null,
            checked: 0,
            reasons: [],
            reportTx: null,
            challenge: null,
            error: (error as Error).message,
            ms: performance.now() - started
        }
    }
    const {evidence, report} = verification
    const checked: WatchedResult = {
        ...base,
        verdict: report.verdict,
        firstBadPosition: report.firstBadPosition,
        checked: report.checked,
        reasons: report.reasons,
        reportTx: null,
        challenge: null,
        ms: 0
    }
    const invalid = report.verdict === "invalid"
    const notChallenged = !invalid
        ? undefined
        : options.challenge == null
          ? "challenging is off"
          : result.worker === options.address
            ? "our own result"
            : Date.now() > result.challengeDeadline
              ? `the window closed at ${new Date(result.challengeDeadline).toISOString()}`
              : undefined
    try {
        if (options.publishAll === true || (invalid && notChallenged == null)) {
            checked.reportTx = await publishVerification(
                options.storage,
                verificationDocument({
                    report,
                    receiptBytes: evidence.receiptBytes,
                    model: {id: evidence.task.model, sha256: evidence.model.sha256},
                    verifier: options.address,
                    engine: verification.verifierEngine,
                    taskId: result.taskId,
                    receiptTx: evidence.receiptTx,
                    notes: evidence.notes,
                    promptSource: evidence.prompt?.source ?? null
                })
            )
        }
        if (invalid && notChallenged == null && options.challenge != null && checked.reportTx != null) {
            const position = disputedPosition(report)
            const accepted = await options.escrow.challenge(
                {
                    taskId: result.taskId,
                    position,
                    evidenceTx: checked.reportTx,
                    ...options.challenge
                },
                {signal: options.signal}
            )
            checked.challenge = {
                challengeId: accepted.challengeId,
                referees: accepted.referees,
                refereeDeadline: accepted.refereeDeadline,
                position
            }
        } else if (notChallenged != null) {
            checked.notChallenged = notChallenged
        }
    } catch (error) {
        // A refusal (already challenged, too few referees) or a failed upload: reported, and the watch goes on.
        checked.notChallenged = (error as Error).message
    }
    checked.ms = performance.now() - started
    return checked
}
