/**
 * What kind of failure an error is, which decides how it is reported:
 * - `user`: the input, a file or the local setup is wrong, and the person can fix it;
 * - `usage`: arguments or options that do not go together;
 * - `remote`: a process, node, gateway or worker refused or failed.
 */
export type ErrorKind = "user" | "usage" | "remote"

// `weavelm verify` exits 4 for an invalid result: a finding it reports, not an error, so it has no kind.
const EXIT_CODES: Record<ErrorKind, number> = {user: 1, usage: 2, remote: 3}

/** The CLI's exit code for a failure of this kind; 2 for usage, as commander's own usage errors. */
export function exitCodeFor(kind: ErrorKind): number {
    return EXIT_CODES[kind]
}

export interface WeaveLMErrorOptions {
    /** What to do about it, printed after the message. */
    suggestion?: string
    cause?: unknown
}

/**
 * An error weavelm expects and can explain in one line. Each class declares its `kind`, so the CLI
 * reports it without a list of class names to keep in step, and callers can branch on the kind.
 */
export abstract class WeaveLMError extends Error {
    public abstract readonly kind: ErrorKind
    public readonly suggestion?: string

    public constructor(message: string, {suggestion, cause}: WeaveLMErrorOptions = {}) {
        super(message, cause === undefined ? undefined : {cause})
        this.suggestion = suggestion
    }
}
