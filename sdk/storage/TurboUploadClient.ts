import {z} from "zod"
import {GatewayError, withRetry, type RetryOptions} from "./retry.ts"

export interface TurboUploadClientOptions {
    /** The upload service's URL, e.g. `https://upload.ardrive.io`; the client adds `/v1`. */
    url: string
    retry?: RetryOptions
    /** Defaults to the global `fetch`; tests pass one that fails on cue. */
    fetch?: typeof fetch
}

/** Turbo prices and credits uploads per token; weavelm signs with Arweave keys. */
const TOKEN = "arweave"
/** Turbo's chunked uploads speak version 2 of its chunking protocol (turbo-sdk `common/chunked.ts`). */
const CHUNKING = {"x-chunking-version": "2"}
const OCTETS = {"content-type": "application/octet-stream"}

const ReceiptSchema = z.looseObject({id: z.string(), owner: z.string().optional()})
export type UploadReceipt = z.infer<typeof ReceiptSchema>

const NewUploadSchema = z.object({id: z.string().min(1), chunkSize: z.number().int().positive().nullish()})
const UploadInfoSchema = z.object({
    /** `[offset, size]` of each chunk the service holds. */
    chunks: z.array(z.tuple([z.number(), z.number()])),
    failedReason: z.string().nullish()
})
const UploadStatusSchema = z.object({status: z.string(), receipt: ReceiptSchema.nullish()})
export type UploadStatus = z.infer<typeof UploadStatusSchema>

/** Multi-part statuses after which the upload can never finish (turbo-sdk `multipartFailedStatus`). */
export const FAILED_UPLOAD_STATUSES = ["UNDERFUNDED", "INVALID", "APPROVAL_FAILED", "REVOKE_FAILED"]

/**
 * The wire protocol of Turbo's upload service, as `@ardrive/turbo-sdk` speaks it
 * (`TurboUnauthenticatedUploadService`, `ChunkedUploader`): a signed data item in one POST,
 * or a multi-part upload whose chunks are posted by their offset in the item. Refusals
 * (4xx) throw `GatewayError` at once; other failures are retried.
 */
export class TurboUploadClient {
    private readonly _base: string
    private readonly _retry: RetryOptions
    private readonly _fetch: typeof fetch

    public constructor({url, retry = {}, fetch: http = fetch}: TurboUploadClientOptions) {
        this._base = `${url.replace(/\/$/, "")}/v1`
        this._retry = retry
        this._fetch = http
    }

    /** `POST /v1/tx/arweave`: the raw signed item. A 202 means the service already had it. */
    public async postItem(raw: Uint8Array): Promise<UploadReceipt | null> {
        const response = await this._request("Uploading a data item", "POST", `/tx/${TOKEN}`, {headers: OCTETS, body: raw})
        return response.status === 202 ? null : parse(ReceiptSchema, response.json)
    }

    /** `GET /v1/chunks/arweave/-1/-1?chunkSize=N` opens a multi-part upload; the service may answer with another chunk size. */
    public async createUpload(chunkSize: number): Promise<{id: string; chunkSize: number}> {
        const response = await this._request("Opening a chunked upload", "GET", `/chunks/${TOKEN}/-1/-1?chunkSize=${chunkSize}`, {
            headers: CHUNKING
        })
        const created = parse(NewUploadSchema, response.json)
        return {id: created.id, chunkSize: created.chunkSize ?? chunkSize}
    }

    /** `GET /v1/chunks/arweave/<upload>/-1`: the chunks the service holds; null when it no longer knows the upload. */
    public async getUpload(uploadId: string): Promise<z.infer<typeof UploadInfoSchema> | null> {
        const response = await this._request("Asking which chunks arrived", "GET", `/chunks/${TOKEN}/${uploadId}/-1`, {allow404: true})
        return response.status === 404 ? null : parse(UploadInfoSchema, response.json)
    }

    /** `POST /v1/chunks/arweave/<upload>/<offset>`: one chunk of the item, at its byte offset. */
    public async postChunk(uploadId: string, offset: number, bytes: Uint8Array): Promise<void> {
        await this._request(`Uploading the chunk at ${offset}`, "POST", `/chunks/${TOKEN}/${uploadId}/${offset}`, {
            headers: {...OCTETS, ...CHUNKING},
            body: bytes
        })
    }

    /** `POST /v1/chunks/arweave/<upload>/finalize`: the service assembles and verifies the item, then reports it by status. */
    public async finalize(uploadId: string): Promise<void> {
        await this._request("Finalizing the chunked upload", "POST", `/chunks/${TOKEN}/${uploadId}/finalize`, {
            headers: {...OCTETS, ...CHUNKING},
            body: new Uint8Array(0)
        })
    }

    /** `GET /v1/chunks/arweave/<upload>/status`; null when the service does not know the upload. */
    public async status(uploadId: string): Promise<UploadStatus | null> {
        const response = await this._request("Asking for the upload's status", "GET", `/chunks/${TOKEN}/${uploadId}/status`, {
            allow404: true
        })
        return response.status === 404 ? null : parse(UploadStatusSchema, response.json)
    }

    /** Sends one request, retried, and reads its whole answer so the connection can be reused. */
    private async _request(
        what: string,
        method: "GET" | "POST",
        endpoint: string,
        {headers = {}, body, allow404 = false}: {headers?: Record<string, string>; body?: Uint8Array; allow404?: boolean}
    ): Promise<{status: number; json: unknown}> {
        return await withRetry(
            what,
            async () => {
                // Our bodies are never backed by a SharedArrayBuffer, the one case fetch's types rule out.
                const response = await this._fetch(this._base + endpoint, {
                    method,
                    headers,
                    body: body as Uint8Array<ArrayBuffer> | undefined
                })
                const text = await response.text()
                if (response.ok || (allow404 && response.status === 404)) {
                    const json =
                        /json/.test(response.headers.get("content-type") ?? "") && text !== "" ? (JSON.parse(text) as unknown) : null
                    return {status: response.status, json}
                }
                const detail = `HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`
                if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)
                    throw new GatewayError(`${what}: the bundler refused it (${detail})`)
                throw new Error(detail)
            },
            this._retry
        )
    }
}

function parse<T>(schema: z.ZodType<T>, json: unknown): T {
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new GatewayError(`The bundler answered with unexpected JSON: ${z.prettifyError(parsed.error)}`)
    return parsed.data
}
