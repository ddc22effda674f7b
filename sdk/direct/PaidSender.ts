import {requestFeeBound, VOUCHER_HEADER, type DirectRequest} from "../channel/index.ts"
import type {ModelRecord} from "../registry/index.ts"
import {DirectRequestError} from "./errors.ts"
import {feeTermsOf, type WorkerCandidate} from "./rankWorkers.ts"
import {refusal, relayAnswer} from "./relayAnswer.ts"
import type {DirectEndpoint, DirectResponse} from "./types.ts"
import type {RequestVoucher, WorkerChannel} from "./WorkerChannel.ts"
import type {WorkerChannels} from "./WorkerChannels.ts"
import type {WorkerRoster} from "./WorkerRoster.ts"

/** Times one request is re-sent to the same worker after a voucher refusal that the ledger can fix (stale nonce, owed amounts). */
const VOUCHER_RETRIES = 3
/** How often a worker reads a channel again when a voucher exceeds the deposit it knows (worker/http). */
const WORKER_CHANNEL_REFRESH_MS = 2100
/** How a channel that could not be opened or topped up fails a request, as OpenAI answers a lack of credit. */
const FUNDING_FAILED = {status: 402, type: "insufficient_quota", code: "channel_funding_failed"}

export interface PaidSenderOptions {
    model: ModelRecord
    channels: WorkerChannels
    roster: WorkerRoster
    fetch: typeof fetch
}

/** One worker's answer, or why the request should go to the next worker. */
export type SendResult = {response: DirectResponse} | {failure: DirectRequestError}

/**
 * Sends one request to one worker, paid with a voucher on the channel with
 * that worker, and re-sends it when the worker refuses a voucher for a reason
 * the ledger can fix. A worker's own error answer (4xx) is passed on; anything
 * that another worker might do better comes back as a failure.
 */
export class PaidSender {
    private readonly _options: PaidSenderOptions

    public constructor(options: PaidSenderOptions) {
        this._options = options
    }

    /** `payload` is `request`'s body as it is posted. */
    public async send(
        candidate: WorkerCandidate,
        endpoint: DirectEndpoint,
        request: DirectRequest,
        payload: string,
        signal?: AbortSignal
    ): Promise<SendResult> {
        const {channels, roster} = this._options
        const worker = candidate.record.address
        let channel: WorkerChannel
        try {
            channel = await channels.channelWith(candidate)
        } catch (error) {
            return failure(`Could not open a channel with worker ${worker}: ${messageOf(error)}`, FUNDING_FAILED)
        }
        const bound = requestFeeBound(feeTermsOf(candidate.record, this._options.model), request)
        const url = `${candidate.baseUrl}/${endpoint === "chat" ? "chat/completions" : "completions"}`
        const accept = request.stream ? "text/event-stream" : "application/json"
        const post = (voucher: RequestVoucher) =>
            this._options.fetch(url, {
                method: "POST",
                headers: {"content-type": "application/json", [VOUCHER_HEADER]: voucher.header, accept},
                body: payload,
                signal
            })

        for (let attempt = 0; ; attempt++) {
            let voucher: {nonce: number; sent: Promise<Response>}
            try {
                voucher = await channel.send(bound, post)
            } catch (error) {
                return failure(`Could not top up the channel with worker ${worker}: ${messageOf(error)}`, FUNDING_FAILED)
            }
            const {nonce, sent} = voucher
            let response: Response
            try {
                response = await sent
            } catch (error) {
                channel.release(nonce)
                if (signal?.aborted) throw error
                return failure(`Worker ${worker} is unreachable: ${messageOf(error)}`, {status: 502, code: "worker_unreachable"})
            }
            if (response.ok) {
                const onDropped = (reason: string) => roster.markFailed(worker, reason)
                const answered = await relayAnswer({worker, channel, nonce, bound}, response, {stream: request.stream, signal, onDropped})
                if (answered == null)
                    return failure(`Worker ${worker} stopped before its answer was complete`, {status: 502, code: "worker_dropped"})
                return {response: answered}
            }
            const text = await response.text().catch(() => "")
            channel.release(nonce)
            if (response.status >= 500) {
                const answer = `HTTP ${response.status} ${text.slice(0, 200)}`
                return failure(`Worker ${worker} failed: ${answer}`, {status: 502, code: "worker_failed"})
            }
            if (attempt < VOUCHER_RETRIES && (await reconcile(channel, response.status, text, bound))) continue
            if (response.status === 429 && roster.isAuto)
                return failure(`Worker ${worker} is busy`, {status: 429, type: "rate_limit_error", code: "rate_limited"})
            return {response: refusal(worker, response, text)}
        }
    }
}

/**
 * Brings the ledger in line with a worker's voucher refusal it can be fixed
 * from: a nonce overtaken by a concurrent request, an owed amount the worker
 * counts higher (a request this side abandoned that the worker finished), or a
 * top-up the worker has not seen yet. The owed amount is taken only up to a
 * Cumulative this side signed, so a worker cannot talk the client into paying more.
 */
async function reconcile(channel: WorkerChannel, status: number, text: string, bound: bigint): Promise<boolean> {
    const error = parseError(text)
    if (error?.code === "stale_nonce") return true
    if (status === 402 && error?.code === "channel_exhausted" && channel.ledger.required(bound) <= channel.ledger.deposited) {
        // A top-up the worker has not read yet; it reads a channel again at most this often.
        await new Promise((resolve) => setTimeout(resolve, WORKER_CHANNEL_REFRESH_MS))
        return true
    }
    if (status === 402 && error?.code === "insufficient_voucher" && error.required != null) {
        const before = channel.ledger.required(bound)
        channel.ledger.acknowledgeOwed(BigInt(error.required) - channel.ledger.inFlight - bound)
        return channel.ledger.required(bound) > before
    }
    return false
}

function parseError(text: string): {code?: string; required?: string} | null {
    try {
        const error = (JSON.parse(text) as {error?: {code?: unknown; required?: unknown}}).error
        return error == null
            ? null
            : {
                  code: typeof error.code === "string" ? error.code : undefined,
                  required: typeof error.required === "string" || typeof error.required === "number" ? String(error.required) : undefined
              }
    } catch {
        return null
    }
}

function failure(message: string, answer: ConstructorParameters<typeof DirectRequestError>[1]): SendResult {
    return {failure: new DirectRequestError(message, answer)}
}

function messageOf(error: unknown): string {
    if (!(error instanceof Error)) return String(error)
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    return cause?.code != null ? `${error.message} (${cause.code})` : error.message
}
