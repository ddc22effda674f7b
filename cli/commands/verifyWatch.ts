import type {WatchedResult} from "../../verifier/index.ts"
import {openConnection, printJson, type NetworkOptions} from "../context.ts"
import {onStopSignal} from "../stopOnSignal.ts"
import {openVerifier, type VerifierCliOptions} from "../verification.ts"
import {challengingEscrow} from "./challenge.ts"

/** What `weavelm verify --watch` reads of its options; `VerifyCommandOptions` extends it, so only the command imports the watchtower. */
export interface WatchtowerOptions extends NetworkOptions, VerifierCliOptions {
    publish?: boolean
    sampleRate: number
    challenge: boolean
    bond?: string
    bondFromDeposit?: boolean
}

/**
 * `weavelm verify --watch`: the watchtower. Runs until SIGINT or SIGTERM, then lets the check under
 * way finish, prints what it did and exits 0. Each challenge commits to a secret kept under
 * --cache-dir and reveals it once the worker has seeded (or its Seed-Deadline passed): a challenge
 * the watchtower could not reveal is finished with `weavelm challenge reveal <challenge-id>`.
 */
export async function runWatchtower(options: WatchtowerOptions) {
    const connection = await openConnection(options)
    const verifier = await openVerifier(connection, options)
    const stopping = new AbortController()
    const removeStopHandler = onStopSignal(() => {
        verifier.step("stopping after the check under way")
        stopping.abort()
    })
    try {
        const {watchResults} = await import("../../verifier/index.ts")
        // Taken before the start line, so that nothing announced after it is missed.
        const from = await verifier.escrow.resultsCursor()
        // Without --bond each challenge puts up the least bond its result needs; Challenge-Bond is that least for most.
        const bond = options.bond ?? (await verifier.escrow.parameters()).challengeBond
        const bondFrom = options.bondFromDeposit ? ("deposit" as const) : ("transfer" as const)
        const challenge = options.challenge ? {bond, bondFrom} : null
        const challenger = await challengingEscrow(connection.ao, verifier.processes, options.cacheDir)
        const escrow = {
            results: verifier.escrow.results.bind(verifier.escrow),
            task: verifier.escrow.task.bind(verifier.escrow),
            challenge: (
                request: Parameters<typeof challenger.challenge>[0],
                challengeOptions: Parameters<typeof challenger.challenge>[1]
            ) => challenger.challenge({...request, bond: options.bond}, challengeOptions)
        }
        // Machine-readable start line: scripts (and tests) wait for it before producing results.
        if (options.json) printJson({watching: true, escrow: verifier.processes.escrow, sampleRate: options.sampleRate, challenge})
        else
            verifier.step(
                `watching results of ${verifier.processes.escrow}: checking ${(options.sampleRate * 100).toFixed(0)}%` +
                    (challenge == null ? ", not challenging" : `, challenging invalid ones with a bond of ${bond}`)
            )
        const summary = await watchResults({
            escrow,
            registry: verifier.registry,
            gateway: connection.config.gateway,
            cacheDir: options.cacheDir,
            models: verifier.models,
            replay: options.replay,
            storage: verifier.storage,
            address: connection.address,
            sampleRate: options.sampleRate,
            challenge,
            publishAll: options.publish === true,
            from,
            signal: stopping.signal,
            onChecked: (checked) => (options.json ? printJson(checked) : process.stdout.write(watchLine(checked) + "\n"))
        })
        if (options.json) printJson({stopped: true, ...summary})
        else
            verifier.step(
                `stopped: ${summary.seen} results seen, ${summary.checked} checked, ${summary.invalid} invalid, ${summary.challenged} challenged`
            )
    } finally {
        removeStopHandler()
        await verifier.dispose()
    }
}

function watchLine(checked: WatchedResult) {
    const time = new Date().toISOString()
    if (checked.verdict == null) return `${time} ${checked.taskId} not checked: ${checked.error}`
    const verdict = checked.verdict === "valid" ? "valid" : `INVALID at ${checked.firstBadPosition ?? "receipt"}`
    const action =
        checked.challenge != null
            ? ` -> challenged (${checked.challenge.challengeId}, position ${checked.challenge.position})`
            : checked.notChallenged != null
              ? ` -> not challenged: ${checked.notChallenged}`
              : ""
    return `${time} ${checked.taskId} worker ${checked.worker} ${verdict} (${checked.checked} tokens, ${(checked.ms / 1000).toFixed(1)} s)${action}`
}
