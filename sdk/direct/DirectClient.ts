import {ChannelClient, InvalidRequestError, parseDirectRequest, type ChannelClosing, type DirectRequest} from "../channel/index.ts"
import {RegistryClient, type ModelRecord} from "../registry/index.ts"
import {readEventStream} from "../sse/index.ts"
import {DirectRequestError} from "./errors.ts"
import {PaidSender} from "./PaidSender.ts"
import type {CompletionBody, DirectClientOptions, DirectEndpoint, DirectResponse} from "./types.ts"
import {WorkerChannels} from "./WorkerChannels.ts"
import {WorkerRoster} from "./WorkerRoster.ts"

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
 *
 * The parts: `WorkerRoster` orders the workers, `WorkerChannels` funds a
 * channel with each, `PaidSender` pays for one request and sends it to one
 * worker, `relayAnswer` passes the answer on and settles what it cost.
 */
export class DirectClient {
    public readonly model: ModelRecord
    private readonly _roster: WorkerRoster
    private readonly _channels: WorkerChannels
    private readonly _sender: PaidSender

    private constructor(model: ModelRecord, roster: WorkerRoster, channels: WorkerChannels, sender: PaidSender) {
        this.model = model
        this._roster = roster
        this._channels = channels
        this._sender = sender
    }

    /** Reads the model and its workers from the registry; throws `DirectRequestError` (404) for an unknown model. */
    public static async create(options: DirectClientOptions): Promise<DirectClient> {
        const {connection} = options
        const {token, registry, escrow} = options.processes ?? connection.config.processes ?? {}
        if (token == null || registry == null || escrow == null)
            throw new Error(`weavelm is not deployed on network "${connection.config.name}"; run \`weavelm deploy\``)
        const registryClient = new RegistryClient(connection.ao, registry)
        const model = await registryClient.model(options.model)
        if (model == null)
            throw new DirectRequestError(`No model "${options.model}" in the registry`, {status: 404, code: "model_not_found"})
        const roster = await WorkerRoster.read({...options, registry: registryClient, model})
        const channels = new WorkerChannels({
            ...options,
            channels: new ChannelClient(connection.ao, {escrow, token}),
            wallet: connection.wallet,
            model
        })
        const sender = new PaidSender({model, channels, roster, fetch: options.fetch ?? fetch})
        return new DirectClient(model, roster, channels, sender)
    }

    /**
     * Starts closing every channel this client opened: each worker may still
     * redeem during the escrow's refund lock, after which the rest returns to
     * the escrow balance. Resolves with each channel's closing terms.
     */
    public async close(): Promise<ChannelClosing[]> {
        return await this._channels.close()
    }

    /**
     * Sends one OpenAI request (`model` is replaced by this client's model) and
     * resolves when the worker started answering. Throws `DirectRequestError`
     * when no worker could take it; a worker's own error answer (4xx) resolves
     * like any answer, with its status.
     */
    public async request(
        endpoint: DirectEndpoint,
        body: Record<string, unknown>,
        {signal}: {signal?: AbortSignal} = {}
    ): Promise<DirectResponse> {
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
        for (const candidate of this._roster.order()) {
            const outcome = await this._sender.send(candidate, endpoint, parsed, payload, signal)
            if ("response" in outcome) return outcome.response
            lastFailure = outcome.failure
            this._roster.markFailed(candidate.record.address, outcome.failure.message)
        }
        throw (
            lastFailure ??
            new DirectRequestError(`No worker serving ${this.model.name} has registered an HTTP endpoint`, {status: 503, code: "no_worker"})
        )
    }

    /** A non-streamed completion's JSON body; throws `DirectRequestError` for an error answer. */
    public async complete(
        endpoint: DirectEndpoint,
        body: Record<string, unknown>,
        options: {signal?: AbortSignal} = {}
    ): Promise<CompletionBody> {
        const response = await this.request(endpoint, {...body, stream: false}, options)
        const chunks: Uint8Array[] = []
        for await (const chunk of response.body) chunks.push(chunk)
        const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as CompletionBody
        if (response.status >= 400) throw errorFromBody(response.status, parsed)
        return parsed
    }

    /** A streamed completion's chunks, parsed, the final one with `usage` and the `weavelm` settlement included. */
    public async *stream(
        endpoint: DirectEndpoint,
        body: Record<string, unknown>,
        options: {signal?: AbortSignal} = {}
    ): AsyncGenerator<CompletionBody> {
        const response = await this.request(endpoint, {...body, stream: true}, options)
        for await (const {data} of readEventStream(response.body)) {
            if (data === "" || data === "[DONE]") continue
            const parsed = JSON.parse(data) as CompletionBody
            if (response.status >= 400 || parsed.error != null) throw errorFromBody(response.status >= 400 ? response.status : 502, parsed)
            yield parsed
        }
    }
}

function errorFromBody(status: number, body: Record<string, unknown>): DirectRequestError {
    const error = (body.error ?? {}) as {message?: string; type?: string; code?: string}
    return new DirectRequestError(error.message ?? `HTTP ${status}`, {status, type: error.type, code: error.code ?? "worker_error"})
}
