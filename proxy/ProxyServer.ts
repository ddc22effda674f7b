import http from "node:http"
import type {AddressInfo} from "node:net"
import {z} from "zod"
import {DirectRequestError, WorkerDroppedError, type DirectClient, type DirectEndpoint} from "../sdk/direct/index.ts"

/** What the proxy forwards a request to: the direct client of the model it names. */
export type ProxyRoute = Pick<DirectClient, "model" | "request">

/** One answered request, for the command's log. */
export interface ProxyRequestEvent {
    endpoint: DirectEndpoint
    model: string
    status: number
    stream: boolean
    worker?: string
    fee?: string
    receiptHash?: string
    error?: string
    ms: number
}

export interface ProxyServerOptions {
    /** The route for a request's `model` field (undefined when the request names none). Throws `DirectRequestError` for an unknown model. */
    route(model: string | undefined): Promise<ProxyRoute>
    /** Model names `/v1/models` lists. */
    models(): Promise<string[]>
    /** Defaults to `127.0.0.1`: the proxy spends the wallet's tokens, so it listens on loopback unless told otherwise. */
    host?: string
    /** Defaults to `11434`; `0` picks a free port. */
    port?: number
    onRequest?: (event: ProxyRequestEvent) => void
}

/** The largest request body read; prompts beyond it are refused rather than buffered. */
const MAX_BODY_BYTES = 16 * 1024 * 1024

const CompletionBodySchema = z.looseObject({
    model: z.string().nullish(),
    stream: z.boolean().nullish()
})

/**
 * A local OpenAI-compatible endpoint (`/v1/models`, `/v1/chat/completions`,
 * `/v1/completions`) that pays workers directly through payment channels.
 * Streams pass through chunk by chunk as the worker sends them; worker errors
 * pass through in OpenAI's error shape.
 */
export class ProxyServer {
    private readonly _server: http.Server
    private readonly _options: ProxyServerOptions
    private readonly _sockets = new Set<import("node:net").Socket>()

    private constructor(options: ProxyServerOptions) {
        this._options = options
        this._server = http.createServer({noDelay: true, keepAlive: true}, (request, response) => void this._handle(request, response))
        this._server.on("connection", (socket) => {
            this._sockets.add(socket)
            socket.once("close", () => this._sockets.delete(socket))
        })
    }

    public static async start(options: ProxyServerOptions): Promise<ProxyServer> {
        const proxy = new ProxyServer(options)
        await new Promise<void>((resolve, reject) => {
            proxy._server.once("error", reject)
            proxy._server.listen(options.port ?? 11434, options.host ?? "127.0.0.1", () => {
                proxy._server.off("error", reject)
                resolve()
            })
        })
        return proxy
    }

    /** The base URL to give OpenAI clients (`OPENAI_BASE_URL`). */
    public get baseUrl(): string {
        const {address, port} = this._server.address() as AddressInfo
        const host = address.includes(":") ? `[${address}]` : address
        return `http://${host}:${port}/v1`
    }

    public get port(): number {
        return (this._server.address() as AddressInfo).port
    }

    /** Stops accepting connections, lets running requests finish for `graceMs`, then cuts the rest. */
    public async close({graceMs = 10_000}: {graceMs?: number} = {}) {
        const closed = new Promise<void>((resolve) => this._server.close(() => resolve()))
        this._server.closeIdleConnections()
        const timer = setTimeout(() => {
            for (const socket of this._sockets) socket.destroy()
        }, graceMs)
        await closed
        clearTimeout(timer)
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const path = (request.url ?? "/").split("?")[0]!.replace(/\/+$/, "")
        try {
            if (request.method === "GET" && path === "/v1/models") return await this._listModels(response)
            const endpoint: DirectEndpoint | null =
                path === "/v1/chat/completions" ? "chat" : path === "/v1/completions" ? "completions" : null
            if (endpoint == null)
                return sendError(response, 404, `No route ${request.method} ${path}`, "invalid_request_error", "not_found")
            if (request.method !== "POST")
                return sendError(response, 405, `${path} takes POST`, "invalid_request_error", "method_not_allowed")
            await this._complete(endpoint, request, response)
        } catch (error) {
            if (!response.headersSent) {
                const {status, message, type, code} = describeError(error)
                sendError(response, status, message, type, code)
            } else {
                response.destroy()
            }
        }
    }

    private async _listModels(response: http.ServerResponse) {
        const names = await this._options.models()
        sendJson(response, 200, {object: "list", data: names.map((id) => ({id, object: "model", created: 0, owned_by: "weavelm"}))})
    }

    private async _complete(endpoint: DirectEndpoint, request: http.IncomingMessage, response: http.ServerResponse) {
        const started = performance.now()
        const parsed = CompletionBodySchema.safeParse(parseJsonBody(await readBody(request)))
        if (!parsed.success)
            return sendError(
                response,
                400,
                `Request body: ${z.prettifyError(parsed.error).replaceAll("\n", "; ")}`,
                "invalid_request_error",
                "invalid_body"
            )
        const body = parsed.data
        const stream = body.stream === true
        const route = await this._options.route(body.model ?? undefined)
        const event: ProxyRequestEvent = {endpoint, model: route.model.name, status: 0, stream, ms: 0}

        // A client that goes away stops the worker's generation too.
        const abort = new AbortController()
        response.once("close", () => {
            if (!response.writableFinished) abort.abort()
        })
        try {
            const upstream = await route.request(endpoint, body, {signal: abort.signal})
            event.status = upstream.status
            event.worker = upstream.worker
            response.writeHead(upstream.status, upstream.headers)
            response.flushHeaders()
            try {
                for await (const chunk of upstream.body) response.write(chunk)
            } catch (error) {
                if (!(error instanceof WorkerDroppedError) || !stream || abort.signal.aborted) throw error
                // The status line is gone already; an OpenAI client reads an `error` event as a failed stream.
                response.write(
                    `data: ${JSON.stringify({error: {message: error.message, type: "server_error", code: "worker_dropped"}})}\n\n`
                )
                event.error = error.message
            }
            response.end()
            const outcome = await upstream.outcome.catch(() => null)
            if (outcome != null) Object.assign(event, {fee: outcome.fee, receiptHash: outcome.receiptHash})
        } catch (error) {
            event.error = error instanceof Error ? error.message : String(error)
            event.status ||= describeError(error).status
            throw error
        } finally {
            event.ms = Math.round(performance.now() - started)
            this._options.onRequest?.(event)
        }
    }
}

function describeError(error: unknown): {status: number; message: string; type: string; code: string} {
    if (error instanceof DirectRequestError) return {status: error.status, message: error.message, type: error.type, code: error.code}
    if (error instanceof BodyError)
        return {status: error.status, message: error.message, type: "invalid_request_error", code: "invalid_body"}
    const name = error instanceof Error ? error.name : ""
    const message = error instanceof Error ? error.message : String(error)
    if (name === "AoProcessError")
        return {status: 502, message: `The escrow refused: ${message}`, type: "server_error", code: "escrow_error"}
    return {status: 500, message, type: "server_error", code: "proxy_error"}
}

class BodyError extends Error {
    public override readonly name = "BodyError"
    public readonly status: number

    public constructor(message: string, status: number) {
        super(message)
        this.status = status
    }
}

async function readBody(request: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of request as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > MAX_BODY_BYTES) throw new BodyError(`Request body is larger than ${MAX_BODY_BYTES} bytes`, 413)
        chunks.push(chunk)
    }
    return Buffer.concat(chunks)
}

function parseJsonBody(bytes: Buffer): unknown {
    try {
        return JSON.parse(bytes.toString("utf8"))
    } catch {
        throw new BodyError("Request body is not valid JSON", 400)
    }
}

function sendJson(response: http.ServerResponse, status: number, value: unknown) {
    const body = JSON.stringify(value)
    response.writeHead(status, {"content-type": "application/json", "content-length": Buffer.byteLength(body)})
    response.end(body)
}

function sendError(response: http.ServerResponse, status: number, message: string, type: string, code: string) {
    sendJson(response, status, {error: {message, type, code, param: null}})
}
