import {exitCodeFor, WeaveLMError} from "../sdk/errors/index.ts"

/**
 * Exit codes: 1 for a user error (bad input, missing file), 2 for a usage
 * error (commander's own), 3 when a process or the network refused or failed,
 * 4 when `weavelm verify` judged a result invalid (a finding, not a failure).
 * An error's kind gives the first three (`exitCodeFor`).
 */
export const EXIT_USAGE = exitCodeFor("usage")
export const EXIT_INVALID = 4

/** An error whose message is meant for the person at the terminal. */
export class UserError extends WeaveLMError {
    public override readonly name = "UserError"
    public override readonly kind = "user"

    public constructor(message: string, suggestion?: string) {
        super(message, {suggestion})
    }
}

/** Arguments or options that do not go together: exits 2, as commander's own usage errors do. */
export class UsageError extends WeaveLMError {
    public override readonly name = "UsageError"
    public override readonly kind = "usage"
}

/** What the CLI prints for an error and the code it exits with: one readable line for a known error, a stack only for a bug. */
export function describeError(error: unknown): {text: string; exitCode: number} {
    if (error instanceof WeaveLMError) {
        const suggestion = error.suggestion ? ` (${error.suggestion})` : ""
        return {text: `error: ${oneLine(error.message)}${suggestion}`, exitCode: exitCodeFor(error.kind)}
    }
    if (error instanceof Error && error.name === "ZodError") {
        const {issues} = error as unknown as {issues: Array<{path: PropertyKey[]; message: string}>}
        const fields = issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")
        return {text: `error: ${fields}`, exitCode: exitCodeFor("user")}
    }
    if (error instanceof TypeError && /fetch failed/.test(error.message)) {
        const cause = (error as {cause?: {code?: string; address?: string; port?: number}}).cause
        const where = cause?.port != null ? ` at ${cause.address ?? "localhost"}:${cause.port}` : ""
        const code = cause?.code ? ` (${cause.code})` : ""
        return {text: `error: the network is unreachable${where}${code}; is the devnet running?`, exitCode: exitCodeFor("remote")}
    }
    const detail = error instanceof Error ? error.stack : String(error)
    return {text: `weavelm: unexpected error, please report it\n${detail}`, exitCode: exitCodeFor("remote")}
}

/** The CLI's one error handler: every command's failure ends here. */
export function handleError(error: unknown): never {
    const {text, exitCode} = describeError(error)
    process.stderr.write(`${text}\n`)
    process.exit(exitCode)
}

/** User errors print as one line, even when they quote a file's bytes or a process's output. */
function oneLine(text: string) {
    return text.replace(/\s*\n\s*/g, " ").replace(/[\u0000-\u001f]/g, "?")
}
