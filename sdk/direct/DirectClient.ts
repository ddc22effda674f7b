import {
    ChannelClient, InvalidRequestError, parseDirectRequest, requestFeeBound, VOUCHER_HEADER,
    type ChannelClosing, type CompletionEndpoint, type DirectRequest
} from "../channel/index.ts"
import type {FeeTerms} from "../escrow/index.ts"
import type {NetworkConnection, ProcessIds} from "../network/index.ts"
import {RegistryClient, WorkerRecordSchema, type ModelRecord} from "../registry/index.ts"
import {DirectRequestError, WorkerDroppedError} from "./errors.ts"
import {openAiBaseUrl, rankWorkers, type WorkerCandidate} from "./rankWorkers.ts"
import {settlementOf, SseSettlementReader, type Settlement} from "./settlement.ts"
import {WorkerChannel, type RequestVoucher} from "./WorkerChannel.ts"

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
        message?: {role: string, content: string}
        delta?: {role?: string, content?: string}
        finish_reason?: string | null
    }>
    usage?: {prompt_tokens: number, completion_tokens: number, total_tokens: number}
    /** What the request cost and its receipt: on the body, or on the last chunk of a stream. */
    weavelm?: Settlement
    [field: string]: unknown
}

/** Something the client did that a person running it may want to see. */
export type DirectEvent =
    | {type: "channel.opened", worker: string, channel: string, deposited: string}
    | {type: "channel.topped-up", worker: string, channel: string, deposited: string}
    | {type: "worker.failed", worker: string, reason: string}

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

/** Times one request is re-sent to the same worker after a voucher refusal that the ledger can fix (stale nonce, owed amounts). */
const VOUCHER_RETRIES = 3
/** How often a worker reads a channel again when a voucher exceeds the deposit it knows (worker/http). */
const WORKER_CHANNEL_REFRESH_MS = 2100
/** The worker headers passed on to whoever reads the response. */
const FORWARDED_HEADERS = /^(content-type|x-weavelm-.*|retry-after|x-ratelimit-.*|x-request-id)$/i

/**
 * Direct mode for programs: OpenAI requests sent straight to a worker's HTTP
 * endpoint and paid with a signed voucher each, over a payment channel the
 * client opens (and tops up) with that worker. No AO message per request; the
 * worker redeems the latest voucher now and then.
 *
 * With `worker: "auto"` the workers serving the model are ranked by price and
 * reputation (see `rankWorkers`); a connection error, a 5xx or a stream that
 * breaks off sends the request, or the next one, to the next worker, so a user
 * risks at most the fee bound of the request in flight.
 */
export class DirectClient {
    public readonly model: ModelRecord
    private readonly _options: DirectClientOptions
    private readonly _channels: ChannelClient
    private readonly _registry: RegistryClient
    private readonly _fetch: typeof fetch
    private readonly _open = new Map<string, Promise<WorkerChannel>>()
    private readonly _failedAt = new Map<string, number>()
    private _candidates: WorkerCandidate[]
    private _candidatesAt: number
    private _refreshing?: Promise<void>

    private constructor(options: DirectClientOptions, processes: ProcessIds, model: ModelRecord) {
        this._options = options
        this.model = model
        this._candidates = []
        this._candidatesAt = Date.now()
        this._fetch = options.fetch ?? fetch
        this._registry = new RegistryClient(options.connection.ao, processes.registry)
        this._channels = new ChannelClient(options.connection.ao, {
            escrow: processes.escrow, token: processes.token
        })
    }

    /** Reads the model and its workers from the registry; throws `DirectRequestError` (404) for an unknown model. */
    public static async create(options: DirectClientOptions): Promise<DirectClient> {
        const {token, registry, escrow} = options.processes ?? options.connection.config.processes ?? {}
        if (token == null || registry == null || escrow == null)
            throw new Error(`weavelm is not deployed on network "${options.connection.config.name}"; run \`weavelm deploy\``)
        const model = await new RegistryClient(options.connection.ao, registry).model(options.model)
        if (model == null)
            throw new DirectRequestError(`No model "${options.model}" in the registry`, {status: 404, code: "model_not_found"})
        const client = new DirectClient(options, {token, registry, escrow}, model)
        client._candidates = await client._readCandidates()
        return client
    }

    /**
     * Starts closing every channel this client opened: each worker may still
     * redeem during the escrow's refund lock, after which the rest returns to
     * the escrow balance. Resolves with each channel's closing terms.
     */
    public async close(): Promise<ChannelClosing[]> {
        const opened = await Promise.all([...this._open.values()].map((channel) => channel.catch(() => null)))
        this._open.clear()
        const closing: ChannelClosing[] = []
        for (const channel of opened) if (channel != null) closing.push(await this._channels.close(channel.id))
        return closing
    }

    /**
     * Sends one OpenAI request (`model` is replaced by this client's model) and
     * resolves when the worker started answering. Throws `DirectRequestError`
     * when no worker could take it; a worker's own error answer (4xx) resolves
     * like any answer, with its status.
     */
    public async request(endpoint: DirectEndpoint, body: Record<string, unknown>, {signal}: {signal?: AbortSignal} = {}): Promise<DirectResponse> {
        const forwarded = {...body, model: this.model.name}
        let parsed: DirectRequest
        try {
            parsed = parseDirectRequest(endpoint, forwarded)
        } catch (error) {
            if (error instanceof InvalidRequestError) throw new DirectRequestError(error.message, {status: 400, code: "invalid_request"})
            throw error
        }
        const payload = JSON.stringify(forwarded)
        let lastFailure: DirectRequestError | null = null
        for (const candidate of this._order()) {
            const outcome = await this._tryWorker(candidate, endpoint, parsed, payload, signal)
            if ("response" in outcome) return outcome.response
            lastFailure = outcome.failure
            this._markFailed(candidate.record.address, outcome.failure.message)
        }
        throw lastFailure ?? new DirectRequestError(`No worker serving ${this.model.name} has registered an HTTP endpoint`, {status: 503, code: "no_worker"})
    }

    /** A non-streamed completion's JSON body; throws `DirectRequestError` for an error answer. */
    public async complete(endpoint: DirectEndpoint, body: Record<string, unknown>, options: {signal?: AbortSignal} = {}): Promise<CompletionBody> {
        const response = await this.request(endpoint, {...body, stream: false}, options)
        const chunks: Uint8Array[] = []
        for await (const chunk of response.body) chunks.push(chunk)
        const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as CompletionBody
        if (response.status >= 400) throw errorFromBody(response.status, parsed)
        return parsed
    }

    /** A streamed completion's chunks, parsed, the final one with `usage` and the `weavelm` settlement included. */
    public async *stream(endpoint: DirectEndpoint, body: Record<string, unknown>, options: {signal?: AbortSignal} = {}): AsyncGenerator<CompletionBody> {
        const response = await this.request(endpoint, {...body, stream: true}, options)
        const decoder = new TextDecoder()
        let pending = ""
        for await (const chunk of response.body) {
            pending += decoder.decode(chunk, {stream: true})
            let end: number
            while ((end = pending.indexOf("\n\n")) >= 0) {
                const data = pending.slice(0, end).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n")
                pending = pending.slice(end + 2)
                if (data === "" || data === "[DONE]") continue
                const parsed = JSON.parse(data) as CompletionBody
                if (response.status >= 400 || parsed.error != null) throw errorFromBody(response.status >= 400 ? response.status : 502, parsed)
                yield parsed
            }
        }
    }

    private get _isAuto(): boolean {
        return this._options.worker == null || this._options.worker === "auto"
    }

    /** Workers in the order to try: the ranking, with those that failed recently moved to the end. */
    private _order(): WorkerCandidate[] {
        this._refreshInBackground()
        const cooldown = this._options.failureCooldownMs ?? 60_000
        const now = Date.now()
        const failed = (c: WorkerCandidate) => now - (this._failedAt.get(c.record.address) ?? -Infinity) < cooldown
        return [...this._candidates.filter((c) => !failed(c)), ...this._candidates.filter(failed)]
    }

    private async _tryWorker(candidate: WorkerCandidate, endpoint: DirectEndpoint, request: DirectRequest, payload: string, signal?: AbortSignal):
        Promise<{response: DirectResponse} | {failure: DirectRequestError}> {
        const worker = candidate.record.address
        let channel: WorkerChannel
        try {
            channel = await this._channelWith(candidate)
        } catch (error) {
            return {failure: new DirectRequestError(`Could not open a channel with worker ${worker}: ${messageOf(error)}`, {status: 402, type: "insufficient_quota", code: "channel_funding_failed"})}
        }
        const terms: FeeTerms = {priceInput: candidate.record.priceInput, priceOutput: candidate.record.priceOutput, ownerFeeBps: this.model.ownerFee}
        const bound = requestFeeBound(terms, request)
        const url = `${candidate.baseUrl}/${endpoint === "chat" ? "chat/completions" : "completions"}`

        for (let attempt = 0; ; attempt++) {
            const post = (voucher: RequestVoucher) => this._fetch(url, {
                method: "POST",
                headers: {"content-type": "application/json", [VOUCHER_HEADER]: voucher.header, accept: request.stream ? "text/event-stream" : "application/json"},
                body: payload,
                signal
            })
            let voucher: {nonce: number, sent: Promise<Response>}
            try {
                voucher = await channel.send(bound, post)
            } catch (error) {
                return {failure: new DirectRequestError(`Could not top up the channel with worker ${worker}: ${messageOf(error)}`, {status: 402, type: "insufficient_quota", code: "channel_funding_failed"})}
            }
            const {nonce, sent} = voucher
            let response: Response
            try {
                response = await sent
            } catch (error) {
                channel.release(nonce)
                if (signal?.aborted) throw error
                return {failure: new DirectRequestError(`Worker ${worker} is unreachable: ${messageOf(error)}`, {status: 502, code: "worker_unreachable"})}
            }
            if (response.ok) {
                const answered = await this._answer(candidate, channel, nonce, bound, response, request.stream, signal)
                if (answered == null)
                    return {failure: new DirectRequestError(`Worker ${worker} stopped before its answer was complete`, {status: 502, code: "worker_dropped"})}
                return {response: answered}
            }
            const text = await response.text().catch(() => "")
            channel.release(nonce)
            if (response.status >= 500)
                return {failure: new DirectRequestError(`Worker ${worker} failed: HTTP ${response.status} ${text.slice(0, 200)}`, {status: 502, code: "worker_failed"})}
            if (attempt < VOUCHER_RETRIES && await this._reconcile(channel, response.status, text, bound)) continue
            if (response.status === 429 && this._isAuto)
                return {failure: new DirectRequestError(`Worker ${worker} is busy`, {status: 429, type: "rate_limit_error", code: "rate_limited"})}
            return {response: refusal(worker, response, text)}
        }
    }

    /**
     * Brings the ledger in line with a worker's voucher refusal it can be fixed
     * from: a nonce overtaken by a concurrent request, or an owed amount the
     * worker counts higher (a request this side abandoned that the worker
     * finished), or a top-up the worker has not seen yet. The owed amount is taken only up to a Cumulative this side
     * signed, so a worker cannot talk the client into paying more.
     */
    private async _reconcile(channel: WorkerChannel, status: number, text: string, bound: bigint): Promise<boolean> {
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

    /** A successful answer, passed on as it arrives; null when a non-streamed body broke off (the caller tries another worker). */
    private async _answer(candidate: WorkerCandidate, channel: WorkerChannel, nonce: number, bound: bigint, response: Response, stream: boolean, signal?: AbortSignal):
        Promise<DirectResponse | null> {
        const worker = candidate.record.address
        const headers = forwardedHeaders(response.headers)
        const settle = (settlement: Settlement | null): RequestOutcome => {
            if (settlement == null) throw new WorkerDroppedError(worker)
            // No worker can redeem more than a voucher says, so a fee above the bound is not owed.
            const fee = BigInt(settlement.fee) > bound ? bound : BigInt(settlement.fee)
            channel.complete(nonce, {fee, receiptHash: settlement.receiptHash, cumulativeOwed: settlement.cumulativeOwed})
            return {worker, channel: channel.id, nonce, fee: fee.toString(), receiptHash: settlement.receiptHash}
        }

        if (!stream) {
            let bytes: Uint8Array
            let outcome: RequestOutcome
            try {
                bytes = new Uint8Array(await response.arrayBuffer())
                outcome = settle(settlementOf(JSON.parse(Buffer.from(bytes).toString("utf8"))))
            } catch (error) {
                channel.release(nonce)
                if (signal?.aborted) throw error
                return null
            }
            return {status: response.status, headers, worker, body: [bytes], outcome: Promise.resolve(outcome)}
        }

        let resolveOutcome!: (outcome: RequestOutcome) => void
        let rejectOutcome!: (error: unknown) => void
        const outcome = new Promise<RequestOutcome>((resolve, reject) => [resolveOutcome, rejectOutcome] = [resolve, reject])
        outcome.catch(() => {})
        const markFailed = (reason: string) => this._markFailed(worker, reason)
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
                resolveOutcome(settle(reader.done ? reader.settlement : null))
            } catch (error) {
                ended = true
                channel.release(nonce)
                if (error instanceof WorkerDroppedError) markFailed(error.message)
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
        return {status: response.status, headers, worker, body: relay(), outcome}
    }

    private _channelWith(candidate: WorkerCandidate): Promise<WorkerChannel> {
        const worker = candidate.record.address
        let channel = this._open.get(worker)
        if (channel == null) {
            channel = this._openChannel(candidate)
            this._open.set(worker, channel)
            // A failed open is tried again by the next request that needs this worker.
            channel.catch(() => this._open.delete(worker))
        }
        return channel
    }

    private async _openChannel(candidate: WorkerCandidate): Promise<WorkerChannel> {
        const worker = candidate.record.address
        const terms: FeeTerms = {priceInput: candidate.record.priceInput, priceOutput: candidate.record.priceOutput, ownerFeeBps: this.model.ownerFee}
        const typical = requestFeeBound(terms, {prompt: "x".repeat(512), maxTokens: 256})
        const funding = BigInt(this._options.budget ?? typical * BigInt(this._options.boundsPerChannel ?? 100))
        const quantity = funding > 0n ? funding : 1n
        const record = await this._channels.open({worker, quantity: quantity.toString(), model: this.model.id})
        this._options.onEvent?.({type: "channel.opened", worker, channel: record.id, deposited: record.deposited})
        return new WorkerChannel(record, {
            channels: this._channels,
            wallet: this._options.connection.wallet,
            topUpFor: (required, deposited) => required - deposited > quantity ? required - deposited : quantity,
            onTopUp: (topped) => this._options.onEvent?.({type: "channel.topped-up", worker, channel: topped.id, deposited: topped.deposited})
        })
    }

    private _markFailed(worker: string, reason: string) {
        this._failedAt.set(worker, Date.now())
        this._options.onEvent?.({type: "worker.failed", worker, reason})
    }

    private _refreshInBackground() {
        if (this._refreshing != null || Date.now() - this._candidatesAt < (this._options.registryRefreshMs ?? 60_000)) return
        this._refreshing = this._readCandidates().then((candidates) => {
            if (candidates.length > 0) this._candidates = candidates
            this._candidatesAt = Date.now()
        }, () => {}).finally(() => this._refreshing = undefined)
    }

    /** The workers to send to: the one named, or the ranked workers serving the model. */
    private async _readCandidates(): Promise<WorkerCandidate[]> {
        const named = this._options.worker
        if (named == null || this._isAuto) return rankWorkers(await this._registry.workers(this.model.id), this.model, Date.now())
        const parsed = WorkerRecordSchema.safeParse(await this._registry.worker(named))
        if (!parsed.success)
            throw new DirectRequestError(`${named} is not a registered worker`, {status: 404, code: "worker_not_found"})
        const record = parsed.data
        if (!record.models.includes(this.model.id))
            throw new DirectRequestError(`Worker ${named} does not serve ${this.model.name}`, {status: 404, code: "model_not_served"})
        const baseUrl = openAiBaseUrl(this._options.endpoint ?? record.endpoint ?? "")
        if (baseUrl == null)
            throw new DirectRequestError(`Worker ${named} registered no HTTP endpoint; pass its URL`, {status: 503, code: "no_endpoint"})
        return [{record, baseUrl, score: 0}]
    }
}

function forwardedHeaders(headers: Headers): Record<string, string> {
    const kept: Record<string, string> = {}
    headers.forEach((value, name) => {
        if (FORWARDED_HEADERS.test(name)) kept[name] = value
    })
    return kept
}

/** A worker's refusal (4xx), passed on as it came. */
function refusal(worker: string, response: Response, text: string): DirectResponse {
    return {
        status: response.status, headers: forwardedHeaders(response.headers), worker,
        body: [Buffer.from(text, "utf8")], outcome: Promise.resolve(null)
    }
}

function parseError(text: string): {code?: string, required?: string} | null {
    try {
        const error = (JSON.parse(text) as {error?: {code?: unknown, required?: unknown}}).error
        return error == null ? null : {
            code: typeof error.code === "string" ? error.code : undefined,
            required: typeof error.required === "string" || typeof error.required === "number" ? String(error.required) : undefined
        }
    } catch {
        return null
    }
}

function errorFromBody(status: number, body: Record<string, unknown>): DirectRequestError {
    const error = (body.error ?? {}) as {message?: string, type?: string, code?: string}
    return new DirectRequestError(error.message ?? `HTTP ${status}`, {status, type: error.type, code: error.code ?? "worker_error"})
}

function messageOf(error: unknown): string {
    if (!(error instanceof Error)) return String(error)
    const cause = (error as {cause?: {code?: string, message?: string}}).cause
    return cause?.code != null ? `${error.message} (${cause.code})` : error.message
}
