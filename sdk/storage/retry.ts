import {WeaveLMError} from "../errors/index.ts"

/** How often and how patiently network calls are retried. */
export interface RetryOptions {
    /** Attempts in all, the first included. Defaults to `5`. */
    attempts?: number
    /** Delay before the second attempt; doubles each time. Defaults to `500` ms. */
    initialDelayMs?: number
}

/** The gateway did not accept a request after every retry. */
export class GatewayError extends WeaveLMError {
    public override readonly name = "GatewayError"
    public override readonly kind = "remote"
}

/**
 * Runs `call` until it succeeds, waiting with exponential backoff between
 * attempts. `isPermanent` errors (a 404, a rejected chunk) are not retried.
 */
export async function withRetry<T>(
    what: string,
    call: () => Promise<T>,
    {attempts = 5, initialDelayMs = 500}: RetryOptions = {},
    isPermanent: (error: unknown) => boolean = (error) => error instanceof GatewayError
): Promise<T> {
    let delay = initialDelayMs
    for (let attempt = 1; ; attempt++) {
        try {
            return await call()
        } catch (error) {
            if (isPermanent(error)) throw error
            if (attempt >= attempts) throw new GatewayError(`${what} failed after ${attempts} attempts: ${describe(error)}`)
            await new Promise((resolve) => setTimeout(resolve, delay))
            delay *= 2
        }
    }
}

function describe(error: unknown): string {
    if (error instanceof Error) {
        const cause = (error as {cause?: {code?: string}}).cause
        return cause?.code != null ? `${error.message} (${cause.code})` : error.message
    }
    return String(error)
}
