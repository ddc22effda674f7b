import {ZodError} from "zod"
import {AoProcessError} from "../sdk/ao/index.ts"
import {NetworkError} from "../sdk/network/index.ts"
import {WalletError} from "../sdk/wallet/index.ts"
import {DevnetError} from "../devnet/index.ts"
import {PublishError, PullError} from "../model-publisher/index.ts"
import {GatewayError} from "../sdk/storage/index.ts"
import {ArnsError} from "../sdk/arns/index.ts"

/**
 * Exit codes: 1 for a user error (bad input, missing file), 2 for a usage
 * error (commander's own), 3 when a process or the network refused or failed.
 */
export const EXIT_USER = 1
export const EXIT_USAGE = 2
export const EXIT_REMOTE = 3

/** An error whose message is meant for the person at the terminal. */
export class UserError extends Error {
    public override readonly name = "UserError"
    public readonly suggestion?: string

    public constructor(message: string, suggestion?: string) {
        super(message)
        this.suggestion = suggestion
    }
}

const USER_ERRORS = [UserError, WalletError, NetworkError, DevnetError, PublishError, PullError, ArnsError]

/** Prints one readable line for a known error, a stack only for a bug, and exits. */
export function handleError(error: unknown): never {
    if (USER_ERRORS.some((type) => error instanceof type)) {
        const suggestion = error instanceof UserError && error.suggestion ? ` (${error.suggestion})` : ""
        process.stderr.write(`error: ${oneLine((error as Error).message)}${suggestion}\n`)
        process.exit(EXIT_USER)
    }
    if (error instanceof ZodError) {
        process.stderr.write(`error: ${error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}\n`)
        process.exit(EXIT_USER)
    }
    if (error instanceof AoProcessError || error instanceof GatewayError) {
        process.stderr.write(`error: ${oneLine(error.message)}\n`)
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
