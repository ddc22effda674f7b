
/**
 * Exit codes: 1 for a user error (bad input, missing file), 2 for a usage
 * error (commander's own), 3 when a process or the network refused or failed,
 * 4 when `weavelm verify` judged a result invalid (a finding, not a failure).
 */
export const EXIT_USER = 1
export const EXIT_USAGE = 2
export const EXIT_REMOTE = 3
export const EXIT_INVALID = 4

/** An error whose message is meant for the person at the terminal. */
export class UserError extends Error {
    public override readonly name = "UserError"
    public readonly suggestion?: string

    public constructor(message: string, suggestion?: string) {
        super(message)
        this.suggestion = suggestion
    }
}

/** Arguments or options that do not go together: exits 2, as commander's own usage errors do. */
export class UsageError extends Error {
    public override readonly name = "UsageError"
}

/**
 * Known errors by class name. Matching names rather than classes keeps the
 * CLI from loading every component (node-llama-cpp, aoconnect) just to start.
 */
const USER_ERRORS = new Set([
    "UserError", "WalletError", "NetworkError", "DevnetError", "PublishError", "PullError", "ArnsError", "TaskEvidenceError", "ReceiptFileError",
    "VerifierSetupError"
])
const REMOTE_ERRORS = new Set(["AoProcessError", "GatewayError", "TaskRefundedError", "NodesUnreachableError", "NodeRefusedError"])

/** Prints one readable line for a known error, a stack only for a bug, and exits. */
export function handleError(error: unknown): never {
    const name = error instanceof Error ? error.name : ""
    if (name === "UsageError") {
        process.stderr.write(`error: ${oneLine((error as Error).message)}\n`)
        process.exit(EXIT_USAGE)
    }
    if (USER_ERRORS.has(name)) {
        const suggestion = error instanceof UserError && error.suggestion ? ` (${error.suggestion})` : ""
        process.stderr.write(`error: ${oneLine((error as Error).message)}${suggestion}\n`)
        process.exit(EXIT_USER)
    }
    if (name === "ZodError") {
        const {issues} = error as unknown as {issues: Array<{path: PropertyKey[], message: string}>}
        process.stderr.write(`error: ${issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}\n`)
        process.exit(EXIT_USER)
    }
    if (REMOTE_ERRORS.has(name)) {
        process.stderr.write(`error: ${oneLine((error as Error).message)}\n`)
        process.exit(EXIT_REMOTE)
    }
    if (error instanceof TypeError && /fetch failed/.test(error.message)) {
        const cause = (error as {cause?: {code?: string, address?: string, port?: number}}).cause
        const where = cause?.port != null ? ` at ${cause.address ?? "localhost"}:${cause.port}` : ""
        process.stderr.write(`error: the network is unreachable${where}${cause?.code ? ` (${cause.code})` : ""}; is the devnet running?\n`)
        process.exit(EXIT_REMOTE)
    }
    process.stderr.write(`weavelm: unexpected error, please report it\n${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(EXIT_REMOTE)
}

/** User errors print as one line, even when they quote a file's bytes or a process's output. */
function oneLine(text: string) {
    return text.replace(/\s*\n\s*/g, " ").replace(/[\u0000-\u001f]/g, "?")
}
