import {Command} from "commander"
import {constants} from "node:fs"
import {access, readFile} from "node:fs/promises"
import {openConnection, printJson, withNetworkOptions} from "../context.ts"
import {EXIT_INVALID, EXIT_USAGE, UserError} from "../errors.ts"
import {parseAmount, parseNumber} from "../parse.ts"
import {openLocalVerifier, openVerifier, printVerification, verificationJson, withVerifierOptions} from "../verification.ts"
import type {WatchtowerOptions} from "./verifyWatch.ts"

export interface VerifyCommandOptions extends WatchtowerOptions {
    receipt?: string
    model?: string
    promptFile?: string
    watch?: boolean
}

/** The watchtower's default share of results checked: a cheater answering 30 tasks is caught with 96% odds, at a tenth of the work. */
export const DEFAULT_SAMPLE_RATE = 0.1

export function verifyCommand() {
    return withVerifierOptions(withNetworkOptions(new Command("verify")))
        .description("re-check a task's receipt against its model and prompt; exit 0 when valid, 4 when invalid")
        .argument("[task-id]", "the task to verify")
        .option("--receipt <file>", "verify a receipt file held locally instead of a task")
        .option(
            "--model <file>",
            "with --receipt: judge it offline against this GGUF file (its SHA-256 must be the receipt's); no network at all"
        )
        .option(
            "--prompt-file <file>",
            "the prompt's text (default: read from Arweave by the task's or the receipt's reference; offline, none)"
        )
        .option("--publish", "store the report on Arweave (Type: Verification) and print its transaction id")
        .option("--watch", "watchtower: follow new results, verify a sample, challenge invalid ones in their window; one line per check")
        .option("--sample-rate <r>", "with --watch: the share of results checked, 0 to 1", parseNumber(0, 1), DEFAULT_SAMPLE_RATE)
        .option("--no-challenge", "with --watch: report invalid results without challenging them")
        .option("--bond <n>", "with --watch: bond per challenge in base units (default: the escrow's Challenge-Bond)", parseAmount)
        .option("--bond-from-deposit", "with --watch: take bonds from your escrow balance instead of sending tokens")
        .addHelpText(
            "after",
            `
Exit codes: 0 valid, 4 invalid, 1 user error, 2 usage error, 3 network or process error.
--json prints {"verdict":"valid"|"invalid","firstBadPosition":N|null,"checked":N,...}; with --watch one JSON line per checked result.`
        )
        .action(async (taskId: string | undefined, options: VerifyCommandOptions, command: Command) => {
            const modes = [taskId != null, options.receipt != null, options.watch === true].filter(Boolean).length
            if (options.model != null && options.receipt == null)
                command.error("error: --model goes with --receipt FILE", {exitCode: EXIT_USAGE})
            if (modes !== 1) command.error("error: give a task id, --receipt FILE or --watch (exactly one)", {exitCode: EXIT_USAGE})
            if (options.model != null && options.publish)
                command.error("error: --publish needs the network; --model verifies offline", {exitCode: EXIT_USAGE})
            const watchOnly = ["sampleRate", "challenge", "bond", "bondFromDeposit"].filter(
                (name) => command.getOptionValueSource(name) === "cli"
            )
            if (!options.watch && watchOnly.length > 0)
                command.error(
                    `error: ${watchOnly.map((name) => command.options.find((o) => o.attributeName() === name)!.long).join(", ")} ${watchOnly.length === 1 ? "applies" : "apply"} only with --watch`,
                    {exitCode: EXIT_USAGE}
                )
            if (options.watch) {
                const {runWatchtower} = await import("./verifyWatch.ts")
                return await runWatchtower(options)
            }
            const valid =
                options.receipt == null
                    ? await verifyTaskCommand(taskId!, options)
                    : options.model == null
                      ? await verifyReceiptFile(options.receipt, options)
                      : await verifyReceiptOffline(options.receipt, options.model, options)
            if (!valid) process.exitCode = EXIT_INVALID
        })
}

async function readPrompt(file: string | undefined) {
    if (file == null) return undefined
    return await readFile(file, "utf8").catch((error: Error) => {
        throw new UserError(`cannot read the prompt file ${file}: ${error.message}`)
    })
}

/** Verifies a task; resolves whether it is valid. */
async function verifyTaskCommand(taskId: string, options: VerifyCommandOptions): Promise<boolean> {
    const prompt = await readPrompt(options.promptFile)
    const connection = await openConnection(options)
    const verifier = await openVerifier(connection, options)
    try {
        const {verifyTask} = await import("../../verifier/index.ts")
        verifier.step(`verifying task ${taskId}`)
        const verification = await verifyTask({
            taskId,
            escrow: verifier.escrow,
            registry: verifier.registry,
            gateway: connection.config.gateway,
            cacheDir: options.cacheDir,
            models: verifier.models,
            pullModel: verifier.pullModel,
            replay: options.replay,
            ...(prompt == null ? {} : {prompt})
        })
        const {evidence, report} = verification
        const reportTx = options.publish
            ? await verifier.publishReport({
                  report,
                  receiptBytes: evidence.receiptBytes,
                  model: {id: evidence.task.model, sha256: evidence.model.sha256},
                  engine: verification.verifierEngine,
                  taskId,
                  receiptTx: evidence.receiptTx,
                  notes: evidence.notes,
                  promptSource: evidence.prompt?.source ?? null
              })
            : undefined
        if (options.json) {
            printJson(
                verificationJson(verification, {
                    taskId,
                    state: evidence.task.state,
                    worker: evidence.task.worker ?? null,
                    receiptTx: evidence.receiptTx,
                    model: {id: evidence.task.model, sha256: evidence.model.sha256},
                    promptSource: evidence.prompt?.source ?? null,
                    notes: evidence.notes,
                    ...(reportTx == null ? {} : {reportTx})
                })
            )
        } else {
            printVerification(verification, [
                ["task", `${taskId} (${evidence.task.state})`],
                ["worker", evidence.task.worker],
                ["model", `${evidence.model.model.name} (${evidence.task.model})`],
                ["receipt", `${connection.config.gateway}/${evidence.receiptTx}`],
                ["prompt", evidence.prompt?.source ?? "unavailable: prompt checks skipped"],
                ...evidence.notes.map((note): [string, string] => ["note", note])
            ])
            if (reportTx != null) process.stdout.write(`report ${reportTx} (${connection.config.gateway}/${reportTx})\n`)
        }
        return report.verdict === "valid"
    } finally {
        await verifier.dispose()
    }
}

async function readReceipt(file: string) {
    return await readFile(file).catch((error: Error) => {
        throw new UserError(`cannot read the receipt file ${file}: ${error.message}`)
    })
}

/** Verifies a receipt file on its own: its model and prompt, no task. */
async function verifyReceiptFile(file: string, options: VerifyCommandOptions): Promise<boolean> {
    const receiptBytes = await readReceipt(file)
    const prompt = await readPrompt(options.promptFile)
    const connection = await openConnection(options)
    const verifier = await openVerifier(connection, options)
    try {
        const {verifyReceiptBytes} = await import("../../verifier/index.ts")
        verifier.step(`verifying ${file}`)
        const verification = await verifyReceiptBytes({
            receiptBytes,
            registry: verifier.registry,
            gateway: connection.config.gateway,
            cacheDir: options.cacheDir,
            models: verifier.models,
            pullModel: verifier.pullModel,
            replay: options.replay,
            ...(prompt == null ? {} : {prompt})
        })
        const {evidence, report} = verification
        const reportTx = options.publish
            ? await verifier.publishReport({
                  report,
                  receiptBytes,
                  model: evidence.receipt.model,
                  engine: verification.verifierEngine,
                  taskId: evidence.receipt.taskId,
                  notes: evidence.notes,
                  promptSource: evidence.prompt?.source ?? null
              })
            : undefined
        if (options.json) {
            printJson(
                verificationJson(verification, {
                    taskId: evidence.receipt.taskId,
                    worker: evidence.receipt.worker,
                    receipt: file,
                    model: evidence.receipt.model,
                    promptSource: evidence.prompt?.source ?? null,
                    notes: evidence.notes,
                    ...(reportTx == null ? {} : {reportTx})
                })
            )
        } else {
            printVerification(verification, [
                ["receipt", `${file} (task ${evidence.receipt.taskId})`],
                ["worker", evidence.receipt.worker],
                ["model", `${evidence.model.model?.name} (${evidence.receipt.model.id})`],
                ["prompt", evidence.prompt?.source ?? "unavailable: prompt checks skipped"],
                ...evidence.notes.map((note): [string, string] => ["note", note])
            ])
            if (reportTx != null) process.stdout.write(`report ${reportTx} (${connection.config.gateway}/${reportTx})\n`)
        }
        return report.verdict === "valid"
    } finally {
        await verifier.dispose()
    }
}

/** Verifies a receipt file against a local model file and the prompt file, if any, with no network. */
async function verifyReceiptOffline(file: string, modelFile: string, options: VerifyCommandOptions): Promise<boolean> {
    const receiptBytes = await readReceipt(file)
    const prompt = await readPrompt(options.promptFile)
    await access(modelFile, constants.R_OK).catch((error: Error) => {
        throw new UserError(`cannot read the model file ${modelFile}: ${error.message}`)
    })
    const verifier = await openLocalVerifier(options)
    try {
        const {verifyReceiptBytes} = await import("../../verifier/index.ts")
        const verification = await verifyReceiptBytes({
            receiptBytes,
            modelFile,
            models: verifier.models,
            replay: options.replay,
            ...(prompt == null ? {} : {prompt})
        })
        const {evidence, report} = verification
        if (options.json) {
            printJson(
                verificationJson(verification, {
                    taskId: evidence.receipt.taskId,
                    worker: evidence.receipt.worker,
                    receipt: file,
                    model: evidence.receipt.model,
                    modelFile,
                    promptSource: evidence.prompt?.source ?? null,
                    notes: evidence.notes
                })
            )
        } else {
            printVerification(verification, [
                ["receipt", `${file}${evidence.receipt.taskId === "" ? "" : ` (task ${evidence.receipt.taskId})`}`],
                ["worker", evidence.receipt.worker || null],
                ["model", `${modelFile} (SHA-256 ${evidence.model.sha256})`],
                ["prompt", evidence.prompt?.source],
                ...evidence.notes.map((note): [string, string] => ["note", note])
            ])
        }
        return report.verdict === "valid"
    } finally {
        await verifier.dispose()
    }
}
