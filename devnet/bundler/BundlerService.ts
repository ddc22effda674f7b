import {createWriteStream} from "node:fs"
import {rm} from "node:fs/promises"
import http from "node:http"
import path from "node:path"
import {pipeline} from "node:stream/promises"
import {InvalidDataItemError} from "../../sdk/storage/index.ts"
import {ChunkedUploads, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, UploadRefusal, type UploadRecord} from "./ChunkedUploads.ts"
import type {ItemStore, StoredItem} from "./ItemStore.ts"
import {close, listen, localUrl} from "../localServer.ts"

export interface BundlerServiceOptions {
    /** Port to listen on; `0` picks a free one (see `url`). */
    port: number
    /** Where verified items are kept; share it with the `GatewayFront` that serves them. */
    store: ItemStore
}

/** Turbo serves every route at the root and under `/v1` (turbo-upload-service `serveRoutesAndV1`); `:token` is the payment token. */
const ROUTES: Array<[method: string, pattern: RegExp, route: Route]> = [
    ["POST", /^(?:\/v1|\/~bundler@1\.0)?\/tx(?:\/[a-z-]+)?$/, "item"],
    ["GET", /^(?:\/v1)?\/chunks\/[a-z-]+\/-1\/-1$/, "create"],
    ["GET", /^(?:\/v1)?\/chunks\/[a-z-]+\/([\w-]+)\/-1$/, "upload"],
    ["GET", /^(?:\/v1)?\/chunks\/[a-z-]+\/([\w-]+)\/status$/, "status"],
    ["POST", /^(?:\/v1)?\/chunks\/[a-z-]+\/([\w-]+)\/(?:finalize|-1)$/, "finalize"],
    ["POST", /^(?:\/v1)?\/chunks\/[a-z-]+\/([\w-]+)\/(\d+)$/, "chunk"],
    ["GET", /^(?:\/v1)?\/(?:info)?$/, "info"]
]
type Route = "item" | "create" | "upload" | "status" | "finalize" | "chunk" | "info"

/**
 * The devnet's bundler, speaking Turbo's upload protocol (and `POST /tx` as up.arweave.net
 * and HyperBEAM's `~bundler@1.0` take it): every item's signature is verified before it is
 * stored, and bytes go straight from the request to disk, so an upload of any size costs the
 * same memory. Items are readable through the gateway as soon as they are acknowledged.
 */
export class BundlerService {
    private readonly _server: http.Server
    private readonly _store: ItemStore
    private readonly _uploads: ChunkedUploads

    private constructor(server: http.Server, store: ItemStore, uploads: ChunkedUploads) {
        this._server = server
        this._store = store
        this._uploads = uploads
    }

    public static async start({port, store}: BundlerServiceOptions): Promise<BundlerService> {
        const uploads = await ChunkedUploads.open({dir: path.join(store.dir, "uploads"), store})
        let service: BundlerService | undefined
        const server = http.createServer((request, response) => {
            service!._handle(request, response).catch((error: unknown) => {
                const status = error instanceof UploadRefusal ? error.status : error instanceof InvalidDataItemError ? 400 : 500
                request.resume()
                if (!response.headersSent) response.writeHead(status, {"content-type": "text/plain"})
                response.end(error instanceof Error ? error.message : String(error))
            })
        })
        service = new BundlerService(server, store, uploads)
        await listen(server, port)
        return service
    }

    /** The URL clients upload to. */
    public get url(): string {
        return localUrl(this._server)
    }

    public async close() {
        await close(this._server)
    }

    private async _handle(request: http.IncomingMessage, response: http.ServerResponse) {
        const url = new URL(request.url ?? "/", "http://bundler")
        for (const [method, pattern, route] of ROUTES) {
            const match = request.method === method ? pattern.exec(url.pathname) : null
            if (match != null) return await this._route(route, match.slice(1), url, request, response)
        }
        throw new UploadRefusal(404, `No route for ${request.method} ${url.pathname}`)
    }

    private async _route(
        route: Route,
        [uploadId = "", offset = ""]: string[],
        url: URL,
        request: http.IncomingMessage,
        response: http.ServerResponse
    ) {
        switch (route) {
            case "item":
                return await this._postItem(request, response)
            case "create": {
                const asked = url.searchParams.get("chunkSize")
                const upload = await this._uploads.create(asked == null ? null : Number(asked))
                const chunkSize = upload.chunkSize ?? undefined
                return json(response, 200, {id: upload.id, min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE, chunkSize})
            }
            case "upload":
                return json(response, 200, this._uploadInfo(this._uploads.get(uploadId)))
            case "status":
                return json(response, 200, this._status(this._uploads.get(uploadId)))
            case "chunk": {
                await this._uploads.writeChunk(uploadId, Number(offset), Number(request.headers["content-length"]), request)
                return json(response, 200, {})
            }
            case "finalize": {
                request.resume()
                const upload = await this._uploads.finalize(uploadId)
                const item = this._uploads.item(upload)
                return item == null ? json(response, 202, {}) : json(response, 200, this._receipt(item))
            }
            // Turbo's `/info` shape; the devnet charges nothing, so every upload is free.
            case "info":
                return json(response, 200, {version: "weavelm-devnet", addresses: {}, freeUploadLimitBytes: Number.MAX_SAFE_INTEGER})
        }
    }

    /** One signed item in the body: written to disk as it arrives, verified, then stored; 202 when it was already stored. */
    private async _postItem(request: http.IncomingMessage, response: http.ServerResponse) {
        const scratch = this._store.scratchFile()
        await pipeline(request, createWriteStream(scratch)).catch(async (error: unknown) => {
            await rm(scratch, {force: true})
            throw error
        })
        const {item, added} = await this._store.addFile(scratch)
        return json(response, added ? 200 : 202, this._receipt(item))
    }

    /** `GET .../<upload>/-1` as Turbo answers it: the chunks held, by offset. */
    private _uploadInfo(upload: UploadRecord) {
        return {
            id: upload.id,
            min: MIN_CHUNK_SIZE,
            max: MAX_CHUNK_SIZE,
            size: upload.chunkSize,
            chunks: [...upload.chunks].sort(([a], [b]) => a - b),
            failedReason: upload.failedReason
        }
    }

    private _status(upload: UploadRecord) {
        const item = this._uploads.item(upload)
        return {
            status: upload.failedReason ?? upload.status,
            timestamp: Date.now(),
            receipt: item == null ? undefined : this._receipt(item),
            detail: upload.detail
        }
    }

    /** Turbo's receipt shape, unsigned: the devnet has no bundler key and nothing to pay. */
    private _receipt(item: StoredItem) {
        return {
            id: item.id,
            owner: item.owner,
            timestamp: item.timestamp,
            winc: "0",
            version: "0.2.0",
            dataCaches: [],
            fastFinalityIndexes: []
        }
    }
}

function json(response: http.ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body)
    response.writeHead(status, {"content-type": "application/json", "content-length": Buffer.byteLength(text)})
    response.end(text)
}
