import type {CompletionEndpoint} from "../channel/index.ts"
import type {NetworkConnection, ProcessIds} from "../network/index.ts"
import type {Settlement} from "./settlement.ts"

export type DirectEndpoint = CompletionEndpoint

/** What one answered request cost, from the worker's report. */
export interface RequestOutcome {
    worker: string
    channel: string
    nonce: number
    fee: string
    receiptHash: string
}

/** A worker's answer as it arrives: status and headers now, the body chunk by chunk. */
export interface DirectResponse {
    status: number
    /** The worker's headers a client may need (content type, fee, receipt hash, rate limits). */
    headers: Record<string, string>
    worker: string
    /** The body's bytes as the worker sends them. Throws `WorkerDroppedError` when a stream breaks off. */
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
    /** Settles once the body was read: what the request cost, or null for a refusal (an error status costs nothing). */
    outcome: Promise<RequestOutcome | null>
}

/** A completion, or a streamed chunk of one, in OpenAI's shape; the fields callers read most are typed. */
export interface CompletionBody {
    id?: string
    choices: Array<{
        index: number
        text?: string
        message?: {role: string; content: string}
        delta?: {role?: string; content?: string}
        finish_reason?: string | null
    }>
    usage?: {prompt_tokens: number; completion_tokens: number; total_tokens: number}
    /** What the request cost and its receipt: on the body, or on the last chunk of a stream. */
    weavelm?: Settlement
    [field: string]: unknown
}

/** Something the client did that a person running it may want to see. */
export type DirectEvent =
    | {type: "channel.opened"; worker: string; channel: string; deposited: string}
    | {type: "channel.topped-up"; worker: string; channel: string; deposited: string}
    | {type: "worker.failed"; worker: string; reason: string}

export interface DirectClientOptions {
    connection: NetworkConnection
    /** The weavelm processes. Defaults to the connection's network's. */
    processes?: ProcessIds
    /** Model-Id or registered name every request is sent for. */
    model: string
    /** A worker's address, or `auto` to pick among the workers serving the model. Defaults to `"auto"`. */
    worker?: string
    /** The worker's OpenAI base URL, for a named worker whose registry record has no endpoint (or a different one). */
    endpoint?: string
    /**
     * What a channel is opened with, and what each top-up adds (or the shortfall when more), in token
     * base units. Defaults to `boundsPerChannel` times the fee bound of a typical request on the
     * worker (512 prompt bytes, 256 tokens out).
     */
    budget?: string
    /** Requests' worth of fee bounds a channel is opened or topped up with when no budget is set. Defaults to `100`. */
    boundsPerChannel?: number
    /** How long a worker that failed goes to the back of the `auto` order. Defaults to `60000` ms. */
    failureCooldownMs?: number
    /** How old the list of `auto` workers may grow before it is read again (in the background). Defaults to `60000` ms. */
    registryRefreshMs?: number
    /** Defaults to the global `fetch`. */
    fetch?: typeof fetch
    onEvent?: (event: DirectEvent) => void
}
