import {Option, type Command} from "commander"
import path from "node:path"
import type {PulledModel, PullModelOptions} from "../model-publisher/index.ts"
import type {EscrowClient} from "../sdk/escrow/index.ts"
import {DEFAULT_CACHE_DIR, type NetworkConnection, type ProcessIds} from "../sdk/network/index.ts"
import type {RegistryClient} from "../sdk/registry/index.ts"
import type {StorageBackend} from "../sdk/storage/index.ts"
import type {PositionReport, Verification, VerificationDocumentInput, VerificationReport, VerifierModels} from "../verifier/index.ts"
import {requireProcesses} from "./context.ts"
import {parseInteger} from "./parse.ts"
import {ProgressBar} from "./progress.ts"

/** Options of the commands that re-check receipts with a local model. */
export interface VerifierCliOptions {
    cacheDir: string
    gpu: "auto" | "cuda" | "vulkan" | "cpu"
    threads?: number
    replay: "escalate" | "always" | "never"
    json?: boolean
}

/** Adds `--cache-dir`, `--gpu`, `--threads` and `--replay`. */
export function withVerifierOptions(command: Command): Command {
    return command
        .option("--cache-dir <dir>", "model cache (models are pulled and checked against the registry)", DEFAULT_CACHE_DIR)
        .addOption(
            new Option("--gpu <kind>", "backend of the re-score (the CPU re-checks CPU receipts bit for bit)")
                .choices(["auto", "cuda", "vulkan", "cpu"])
                .default("cpu")
        )
        .option("--threads <n>", "CPU threads for the re-score (default 1)", parseInteger(1, 256))
        .addOption(
            new Option(
                "--replay <when>",
                "decode replay of a CPU receipt, which an honest one matches bit for bit: when the re-score " +
                    "fails or is close to a cheat (escalate), instead of the re-score (always, as referees judge), or never"
            )
                .choices(["escalate", "always", "never"])
                .default("escalate")
        )
}

/** What a verifying command holds: the network's clients, the engine's models, storage for reports. */
export interface OpenVerifier {
    connection: NetworkConnection
    processes: ProcessIds
    escrow: EscrowClient
    registry: RegistryClient
    models: VerifierModels
    storage: StorageBackend
    /** pullModel with a progress bar on a terminal. */
    pullModel(options: PullModelOptions): Promise<PulledModel>
    /** Progress lines on stderr, silent with --json. */
    step(text: string): void
    /** Stores a report on Arweave (`Type: Verification`), signed as this wallet's verdict; returns its id. */
    publishReport(input: Omit<VerificationDocumentInput, "verifier">): Promise<string>
    dispose(): Promise<void>
}

/** What re-checking a receipt offline needs: the engine's models and progress lines. */
export type LocalVerifier = Pick<OpenVerifier, "models" | "step" | "dispose">

/** Loads the engine lazily: a command that only prints --help never starts llama.cpp. */
export async function openLocalVerifier(options: VerifierCliOptions): Promise<LocalVerifier> {
    const [{VerifierModels}, {InferenceEngine}] = await Promise.all([import("../verifier/index.ts"), import("../worker/engine/index.ts")])
    const engine = await InferenceEngine.create({gpu: options.gpu, threads: options.threads})
    const models = new VerifierModels({load: (file, loadOptions) => engine.loadModel(file, loadOptions)})
    return {
        models,
        step: (text) => (options.json ? undefined : void process.stderr.write(`${text}\n`)),
        async dispose() {
            await models.dispose()
            await engine.dispose()
        }
    }
}

/** A local verifier with the network's clients. */
export async function openVerifier(connection: NetworkConnection, options: VerifierCliOptions): Promise<OpenVerifier> {
    const [{EscrowClient}, {RegistryClient}, {publishVerification, verificationDocument}, {pullModel}] = await Promise.all([
        import("../sdk/escrow/index.ts"),
        import("../sdk/registry/index.ts"),
        import("../verifier/index.ts"),
        import("../model-publisher/index.ts")
    ])
    const processes = requireProcesses(connection.config)
    const {models, step, dispose} = await openLocalVerifier(options)
    const storage = connection.storage(path.join(options.cacheDir, "uploads"))
    return {
        connection,
        processes,
        models,
        step,
        storage,
        dispose,
        escrow: new EscrowClient(connection.ao, processes),
        registry: new RegistryClient(connection.ao, processes.registry),
        async publishReport(input) {
            step("storing the report on Arweave")
            return await publishVerification(storage, verificationDocument({...input, verifier: connection.address}))
        },
        async pullModel(pullOptions) {
            step(`pulling model ${pullOptions.ref}`)
            const bar = new ProgressBar("downloading", {enabled: !options.json && process.stderr.isTTY === true})
            try {
                return await pullModel({...pullOptions, onProgress: (p) => bar.update(p)})
            } finally {
                bar.done()
            }
        }
    }
}

/** The JSON form of a verification: `verdict`, `firstBadPosition` and `checked` first, as scripts read them. */
export function verificationJson(verification: Verification<unknown>, extra: Record<string, unknown>) {
    const {report, tokenTexts} = verification
    return {
        verdict: report.verdict,
        firstBadPosition: report.firstBadPosition,
        checked: report.checked,
        ...extra,
        reasons: report.reasons,
        structural: report.structural,
        aggregate: report.aggregate,
        thresholds: report.thresholds,
        decidedBy: report.decidedBy,
        ...(report.rescore == null ? {} : {rescore: report.rescore}),
        positions: report.positions.map((position) => ({...position, text: tokenTexts[position.position] ?? null}))
    }
}

/** Prints a verification for people: the verdict, the first failing position, why, and a per-token table. */
export function printVerification(verification: Verification<unknown>, header: Array<[string, unknown]>) {
    const {report, tokenTexts} = verification
    const out: string[] = []
    for (const [key, value] of header) if (value != null) out.push(`${key.padEnd(10)} ${String(value)}`)
    out.push(`${"verdict".padEnd(10)} ${verdictLine(report)}`)
    for (const reason of report.reasons) out.push(`  ${reason}`)
    if (report.positions.length > 0) {
        out.push("", "   pos  token               claimed  verifier  rank    margin  check")
        for (const position of report.positions) out.push(tableRow(position, tokenTexts[position.position] ?? ""))
    }
    const how =
        report.decidedBy === "replay" ? `, decided by a decode replay${report.rescore == null ? "" : ` (${report.rescore.escalated})`}` : ""
    out.push(
        "",
        `checked ${report.checked} tokens in ${(report.timings.totalMs / 1000).toFixed(2)} s with the ${report.thresholds.profile} thresholds${how}`
    )
    process.stdout.write(out.join("\n") + "\n")
}

function verdictLine(report: VerificationReport) {
    if (report.verdict === "valid") return "valid"
    return report.firstBadPosition == null
        ? "INVALID (the receipt as a whole; no position failed)"
        : `INVALID, first bad position ${report.firstBadPosition}`
}

function tableRow(position: PositionReport, text: string) {
    const shown = JSON.stringify(text).slice(0, 18)
    const rank = position.rankInVerifierTopK == null ? "-" : String(position.rankInVerifierTopK)
    return (
        `${String(position.position).padStart(6)}  ${shown.padEnd(18)} ${position.claimedLogprob.toFixed(4).padStart(9)} ` +
        `${position.verifierLogprob.toFixed(4).padStart(9)} ${rank.padStart(5)} ${position.marginToTop1.toFixed(4).padStart(9)}  ` +
        (position.ok ? "ok" : `BAD ${position.why ?? ""}`)
    )
}
