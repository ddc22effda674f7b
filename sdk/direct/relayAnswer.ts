import {WorkerDroppedError} from "./errors.ts"
import {settlementOf, SseSettlementReader, type Settlement} from "./settlement.ts"
import type {DirectResponse, RequestOutcome} from "./types.ts"
import type {WorkerChannel} from "./WorkerChannel.ts"

/** The worker headers passed on to whoever reads the response. */
const FORWARDED_HEADERS = /^(content-type|x-weavelm-.*|retry-after|x-ratelimit-.*|x-request-id)$/i

/** A request a worker accepted, and the voucher that paid for it. */
export interface PaidRequest {
    worker: string
    channel: WorkerChannel
    nonce: number
    /** The fee bound the voucher covers: no worker can redeem more for this request. */
    bound: bigint
}

export interface RelayOptions {
    /** Whether the answer is a server-sent event stream rather than one JSON body. */
    stream: boolean
    /** The caller's; a read it aborts is the caller giving up, not the worker dropping. */
    signal?: AbortSignal
    /** Told when a stream breaks off, so that the worker goes to the back of the order. */
    onDropped(reason: string): void
}

/**
 * A worker's successful answer, passed on as it arrives; once it was read to
 * its end, what it cost is settled on the channel. Null when a non-streamed
 * body broke off (the caller tries another worker).
 */
export async function relayAnswer(paid: PaidRequest, response: Response, options: RelayOptions): Promise<DirectResponse | null> {
    const {worker, channel, nonce} = paid
    const headers = forwardedHeaders(response.headers)
    if (options.stream) return {status: response.status, headers, worker, ...relayStream(paid, response, options)}
    let bytes: Uint8Array
    let outcome: RequestOutcome
    try {
        bytes = new Uint8Array(await response.arrayBuffer())
        outcome = settle(paid, settlementOf(JSON.parse(Buffer.from(bytes).toString("utf8"))))
    } catch (error) {
        channel.release(nonce)
        if (options.signal?.aborted) throw error
        return null
    }
    return {status: response.status, headers, worker, body: [bytes], outcome: Promise.resolve(outcome)}
}

/** A refusal (4xx), passed on as it came. */
export function refusal(worker: string, response: Response, text: string): DirectResponse {
    return {
        status: response.status,
        headers: forwardedHeaders(response.headers),
        worker,
        body: [Buffer.from(text, "utf8")],
        outcome: Promise.resolve(null)
    }
}

/** A stream's bytes as they arrive; its settlement is read from the final chunk as the bytes pass by. */
function relayStream(paid: PaidRequest, response: Response, {signal, onDropped}: RelayOptions): Pick<DirectResponse, "body" | "outcome"> {
    const {worker, channel, nonce} = paid
    let resolveOutcome!: (outcome: RequestOutcome) => void
    let rejectOutcome!: (error: unknown) => void
    const outcome = new Promise<RequestOutcome>((resolve, reject) => ([resolveOutcome, rejectOutcome] = [resolve, reject]))
    outcome.catch(() => {})
    async function* relay(): AsyncGenerator<Uint8Array> {
        const reader = new SseSettlementReader()
        const source = response.body!.getReader()
        let ended = false
        try {
            for (;;) {
                let next: ReadableStreamReadResult<Uint8Array>
                try {
                    next = await source.read()
                } catch (error) {
                    // A caller that gave up aborted the read; anything else is the worker going away.
                    throw signal?.aborted ? error : new WorkerDroppedError(worker, error)
                }
                if (next.done) break
                reader.push(next.value)
                yield next.value
            }
            ended = true
            resolveOutcome(settle(paid, reader.done ? reader.settlement : null))
        } catch (error) {
            ended = true
            channel.release(nonce)
            if (error instanceof WorkerDroppedError) onDropped(error.message)
            rejectOutcome(error)
            throw error
        } finally {
            if (!ended) {
                // The reader stopped early (the client went away): the worker learns it from the closed connection.
                void source.cancel().catch(() => {})
                channel.release(nonce)
                rejectOutcome(new Error("The answer was not read to its end"))
            }
        }
    }
    return {body: relay(), outcome}
}

/** Records what the worker says the request cost; a missing settlement means it stopped short. */
function settle({worker, channel, nonce, bound}: PaidRequest, settlement: Settlement | null): RequestOutcome {
    if (settlement == null) throw new WorkerDroppedError(worker)
    // No worker can redeem more than a voucher says, so a fee above the bound is not owed.
    const fee = BigInt(settlement.fee) > bound ? bound : BigInt(settlement.fee)
    channel.complete(nonce, {fee, receiptHash: settlement.receiptHash, cumulativeOwed: settlement.cumulativeOwed})
    return {worker, channel: channel.id, nonce, fee: fee.toString(), receiptHash: settlement.receiptHash}
}

function forwardedHeaders(headers: Headers): Record<string, string> {
    const kept: Record<string, string> = {}
    headers.forEach((value, name) => {
        if (FORWARDED_HEADERS.test(name)) kept[name] = value
    })
    return kept
}
