import {Command} from "commander"
import {readFile} from "node:fs/promises"
import path from "node:path"
import type {AoClient} from "../../sdk/ao/index.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import type {ChallengeAccepted, ChallengeCommitted, ChallengeResolution, EscrowClient} from "../../sdk/escrow/index.ts"
import type {ProcessIds} from "../../sdk/network/index.ts"
import {decodeReceipt, hashReceiptBytes} from "../../sdk/receipt/index.ts"
import type {VerificationDocumentInput, VerificationReport} from "../../verifier/index.ts"
import {openConnection, printJson, requireProcesses, withNetworkOptions, type NetworkOptions} from "../context.ts"
import {UsageError, UserError} from "../errors.ts"
import {parseAmount, parseInteger} from "../parse.ts"
import {openVerifier, withVerifierOptions, type VerifierCliOptions} from "../verification.ts"

interface ChallengeCommandOptions extends NetworkOptions, VerifierCliOptions {
    force?: boolean
    position?: number
    bond?: string
    bondFromDeposit?: boolean
    wait?: boolean
    promptFile?: string
    receipt?: string
    channel?: string
    batchTx?: string
    fee?: string
}

interface RevealCommandOptions extends NetworkOptions {
    cacheDir: string
    wait?: boolean
}

/**
 * An EscrowClient that keeps challenge secrets in `<cacheDir>/challenges/<address>/` (docs/protocol.md,
 * "Seeding the committee"), so that `weavelm challenge reveal` can finish a challenge after a restart.
 */
export async function challengingEscrow(ao: AoClient, processes: ProcessIds, cacheDir: string): Promise<EscrowClient> {
    const {EscrowClient, FileChallengeSecrets} = await import("../../sdk/escrow/index.ts")
    return new EscrowClient(ao, processes, {secrets: new FileChallengeSecrets(path.join(cacheDir, "challenges", ao.address))})
}

export function challengeCommand() {
    return withVerifierOptions(withNetworkOptions(new Command("challenge")))
        .description(
            "verify a task (or a direct request's receipt) and, if it is invalid, challenge it: the report goes to Arweave as evidence, the bond to the escrow"
        )
        .argument("[task-id]", "the task to challenge (not with --receipt)")
        .option("--receipt <file>", "challenge a direct request by its receipt (with --channel, --batch-tx and --fee)")
        .option("--channel <id>", "with --receipt: the channel that paid for the request (the response's weavelm.channel)")
        .option("--batch-tx <tx>", "with --receipt: the worker's Receipt-Batch upload holding the receipt")
        .option("--fee <n>", "with --receipt: what the request cost, in base units (the response's weavelm.fee)", parseAmount)
        .option("--force", "challenge even when the task verifies as valid (the bond then pays the referees and the worker)")
        .option(
            "--position <n>",
            "the output position to dispute (default: the first bad one, 0 with --force on a valid task)",
            parseInteger(0, 2147483647)
        )
        .option(
            "--bond <n>",
            "bond in base units (default: the least the escrow accepts: Challenge-Bond, or Referee-Count x Referee-Fee + the task's fee when more)",
            parseAmount
        )
        .option("--bond-from-deposit", "take the bond from your escrow balance instead of sending tokens from the wallet")
        .option("--wait", "wait for the referees' verdict (and the slash's share-out) and print it")
        .option(
            "--prompt-file <file>",
            "the prompt's text, if the network cannot provide it (with --receipt it goes into the evidence for the referees)"
        )
        .addHelpText(
            "after",
            `
The challenge commits to a secret (kept under --cache-dir until revealed), waits for the worker's seed or
its Seed-Deadline, then reveals it and the committee is drawn. Interrupted before the reveal, finish it
with \`weavelm challenge reveal <challenge-id>\` before the Reveal-Deadline, or the bond is lost.

Exit codes: 0 challenge accepted and its committee drawn (with --wait: and resolved, whatever the verdict),
1 the task verifies as valid (without --force) or bad input, 2 usage error, 3 the escrow refused the
challenge or the network failed.`
        )
        .addCommand(revealCommand())
        .action(async (taskId: string | undefined, options: ChallengeCommandOptions) => {
            const target = await challengeTarget(taskId, options)
            const prompt =
                options.promptFile == null
                    ? undefined
                    : await readFile(options.promptFile, "utf8").catch((error: Error) => {
                          throw new UserError(`cannot read the prompt file ${options.promptFile}: ${error.message}`)
                      })
            const connection = await openConnection(options)
            const verifier = await openVerifier(connection, options)
            try {
                const {verifyTask, verifyReceiptBytes, disputedPosition} = await import("../../verifier/index.ts")
                const {escrow} = verifier
                // Every answer to the challenge comes after this point of our inbox at the escrow.
                const from = await escrow.inboxCursor()
                const sources = {
                    registry: verifier.registry,
                    gateway: connection.config.gateway,
                    cacheDir: options.cacheDir,
                    models: verifier.models,
                    pullModel: verifier.pullModel,
                    replay: options.replay,
                    ...(prompt == null ? {} : {prompt})
                }
                let subject: string, report: VerificationReport, evidenceReport: Omit<VerificationDocumentInput, "verifier">
                if ("taskId" in target) {
                    subject = `task ${target.taskId}`
                    verifier.step(`verifying ${subject}`)
                    const verification = await verifyTask({taskId: target.taskId, escrow, ...sources})
                    const {evidence} = verification
                    report = verification.report
                    evidenceReport = {
                        report,
                        receiptBytes: evidence.receiptBytes,
                        model: {id: evidence.task.model, sha256: evidence.model.sha256},
                        engine: verification.verifierEngine,
                        taskId: target.taskId,
                        receiptTx: evidence.receiptTx,
                        notes: evidence.notes,
                        promptSource: evidence.prompt?.source ?? null
                    }
                } else {
                    subject = `request ${target.requestId}`
                    verifier.step(`verifying the receipt of ${subject}`)
                    const verification = await verifyReceiptBytes({receiptBytes: target.receiptBytes, ...sources})
                    const {evidence} = verification
                    report = verification.report
                    // The prompt of a direct request is on no gateway: the evidence carries it to the referees.
                    evidenceReport = {
                        report,
                        receiptBytes: target.receiptBytes,
                        model: evidence.receipt.model,
                        engine: verification.verifierEngine,
                        taskId: target.requestId,
                        receiptTx: target.batchTx,
                        notes: evidence.notes,
                        promptSource: evidence.prompt?.source ?? null,
                        ...(prompt == null ? {} : {prompt})
                    }
                }
                if (report.verdict === "valid" && !options.force)
                    throw new UserError(
                        `${subject} verifies as valid (${report.checked} tokens checked): nothing to challenge`,
                        "pass --force to challenge anyway; if the referees agree, the bond pays them and the worker"
                    )
                verifier.step(
                    report.verdict === "valid"
                        ? `${subject} verifies as valid; challenging anyway (--force)`
                        : `invalid${report.firstBadPosition == null ? "" : ` from position ${report.firstBadPosition}`}: ${report.reasons[0] ?? ""}`
                )

                const evidenceTx = await verifier.publishReport(evidenceReport)
                const challenger = await challengingEscrow(connection.ao, verifier.processes, options.cacheDir)
                const challenged =
                    "taskId" in target
                        ? {taskId: target.taskId}
                        : {
                              direct: {
                                  channel: target.channel,
                                  requestId: target.requestId,
                                  receiptHash: target.receiptHash,
                                  batchTx: target.batchTx,
                                  fee: target.fee
                              }
                          }
                const bond = options.bond ?? (await challenger.leastBond(challenged))
                const bondFrom = options.bondFromDeposit ? ("deposit" as const) : ("transfer" as const)
                const position = options.position ?? disputedPosition(report)
                verifier.step(
                    `challenging position ${position} with a bond of ${bond} (${bondFrom === "deposit" ? "from the escrow balance" : "by token transfer"})`
                )
                const accepted = await challenger.challenge(
                    {...challenged, position, evidenceTx, bond, bondFrom},
                    {onCommitted: (committed) => verifier.step(committedLine(committed))}
                )

                const summary = {
                    taskId: accepted.taskId,
                    challengeId: accepted.challengeId,
                    state: "Challenged",
                    verdict: report.verdict,
                    firstBadPosition: report.firstBadPosition,
                    checked: report.checked,
                    position,
                    evidenceTx,
                    bond: accepted.bond,
                    bondFrom,
                    referees: accepted.referees,
                    quorum: accepted.quorum,
                    refereeDeadline: accepted.refereeDeadline
                }
                if (!options.json) printAccepted(accepted, {evidenceTx, gateway: connection.config.gateway})
                if (!options.wait) return options.json ? printJson(summary) : undefined

                verifier.step(`waiting for the referees (deadline ${new Date(accepted.refereeDeadline).toISOString()})`)
                const resolution = await escrow.waitForResolution(accepted, {from})
                const state = resolution.verdict === "Invalid" ? "Invalidated" : "Settled"
                if (options.json) return printJson({...summary, state, resolution})
                printResolution(resolution)
            } finally {
                await verifier.dispose()
            }
        })
}

/** `weavelm challenge reveal`: the second half of a challenge whose reveal did not happen (the command stopped). */
function revealCommand() {
    // Its options are `challenge`'s (commander hands every option after `challenge` to it), read with optsWithGlobals.
    return new Command("reveal")
        .description(
            "reveal the secret of a challenge of yours whose committee is not drawn yet, so that it is (before its Reveal-Deadline); " +
                "takes challenge's --network, --wallet, --cache-dir (where the secret was kept), --wait and --json"
        )
        .argument("<challenge-id>", "the Challenge-Id the escrow accepted")
        .configureHelp({showGlobalOptions: true})
        .addHelpText(
            "after",
            `
Exit codes: 0 the committee is drawn (with --wait: and the challenge resolved), 1 no secret is kept for the
challenge here or it lapsed, 2 usage error, 3 the escrow refused the reveal or the network failed.`
        )
        .action(async (challengeId: string, _options: unknown, command: Command) => {
            const options = command.optsWithGlobals<RevealCommandOptions>()
            const connection = await openConnection(options)
            const escrow = await challengingEscrow(connection.ao, requireProcesses(connection.config), options.cacheDir)
            const step = (text: string) => (options.json ? undefined : void process.stderr.write(`${text}\n`))
            const from = await escrow.inboxCursor()
            step(`revealing challenge ${challengeId} once its worker has seeded or its Seed-Deadline has passed`)
            const accepted = await escrow.revealChallenge(challengeId).catch((error: Error) => {
                // The escrow's refusals and the network's failures are remote errors; a missing secret or a lapse is the user's to know.
                throw error instanceof WeaveLMError && error.kind === "remote" ? error : new UserError(error.message)
            })
            const summary = {
                taskId: accepted.taskId,
                challengeId: accepted.challengeId,
                state: "Challenged",
                bond: accepted.bond,
                referees: accepted.referees,
                quorum: accepted.quorum,
                refereeDeadline: accepted.refereeDeadline
            }
            if (!options.json) printAccepted(accepted)
            if (!options.wait) return options.json ? printJson(summary) : undefined
            step(`waiting for the referees (deadline ${new Date(accepted.refereeDeadline).toISOString()})`)
            const resolution = await escrow.waitForResolution(accepted, {from})
            const state = resolution.verdict === "Invalid" ? "Invalidated" : "Settled"
            if (options.json) return printJson({...summary, state, resolution})
            printResolution(resolution)
        })
}

function committedLine(committed: ChallengeCommitted) {
    return (
        `challenge ${committed.challengeId} accepted: task ${committed.taskId} is frozen and the bond held; waiting for the worker's seed ` +
        `(Seed-Deadline ${new Date(committed.seedDeadline).toISOString()}) to reveal the secret and draw the committee`
    )
}

interface DirectTarget {
    receiptBytes: Uint8Array
    requestId: string
    receiptHash: string
    channel: string
    batchTx: string
    fee: string
}

/** What to challenge: a task by id, or a direct request by its receipt file (whose taskId is the paying voucher's id). */
async function challengeTarget(taskId: string | undefined, options: ChallengeCommandOptions): Promise<{taskId: string} | DirectTarget> {
    if (options.receipt == null) {
        if (taskId == null) throw new UsageError("name the task to challenge, or a direct request's receipt with --receipt")
        return {taskId}
    }
    if (taskId != null) throw new UsageError("name a task or --receipt, not both")
    const {channel, batchTx, fee} = options
    if (channel == null || batchTx == null || fee == null)
        throw new UsageError(
            "--receipt needs --channel, --batch-tx and --fee: they come with the worker's response (weavelm.channel, weavelm.fee) and its Receipt-Batch upload"
        )
    const file = options.receipt
    const receiptBytes = new Uint8Array(
        await readFile(file).catch((error: Error) => {
            throw new UserError(`cannot read the receipt file ${file}: ${error.message}`)
        })
    )
    let requestId: string
    try {
        requestId = decodeReceipt(receiptBytes).taskId
    } catch (error) {
        throw new UserError(`${file} is not a receipt: ${(error as Error).message.replace(/\s+/g, " ").slice(0, 300)}`)
    }
    return {receiptBytes, requestId, receiptHash: hashReceiptBytes(receiptBytes), channel, batchTx, fee}
}

function printAccepted(accepted: ChallengeAccepted, evidence?: {evidenceTx: string; gateway: string}) {
    process.stdout.write(
        `challenge ${accepted.challengeId} accepted: task ${accepted.taskId} is Challenged\n` +
            (evidence == null ? "" : `  evidence  ${evidence.gateway}/${evidence.evidenceTx}\n`) +
            `  bond      ${accepted.bond}\n` +
            `  referees  ${accepted.referees.join(", ")} (quorum ${accepted.quorum}; drawn ${accepted.workerSeed == null ? "without the worker's seed: it sent none" : "with the worker's seed"})\n` +
            `  deadline  ${new Date(accepted.refereeDeadline).toISOString()}\n`
    )
}

function printResolution(resolution: ChallengeResolution) {
    const lines = [
        `resolved: ${resolution.verdict} by ${resolution.resolution} (${resolution.validVotes} valid, ${resolution.invalidVotes} invalid)`
    ]
    if (resolution.verdict === "Invalid") {
        lines.push(`  the requester got ${resolution.refund} back and you your bond of ${resolution.bond}; the worker was slashed`)
        if (resolution.slash != null)
            lines.push(
                `  slash: ${resolution.slash.proceeds} taken, your reward ${resolution.slash.reward}, referees ${resolution.slash.refereeFee} each, treasury ${resolution.slash.treasury}`
            )
    } else if (resolution.verdict === "Valid") {
        lines.push(
            `  the result stands: your bond paid ${resolution.refereeFee} to each majority referee and ${resolution.workerShare} to the worker`
        )
    } else {
        lines.push("  undecided: the result stands and your bond came back")
    }
    if (resolution.struck.length > 0) lines.push(`  struck referees: ${resolution.struck.join(", ")}`)
    process.stdout.write(lines.join("\n") + "\n")
}
