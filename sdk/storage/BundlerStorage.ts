import {createHash} from "node:crypto"
import path from "node:path"
import type {Tag} from "../ao/index.ts"
import {walletAddress, type ArweaveJwk} from "../wallet/index.ts"
import {digestFile, type DataDigest} from "./ans104.ts"
import {ChunkedItemUpload, UploadStateSchema, type UploadState} from "./ChunkedItemUpload.ts"
import {isItemEndpoint, ItemEndpointClient} from "./ItemEndpointClient.ts"
import {GatewayError, withRetry, type RetryOptions} from "./retry.ts"
import {signDataItem, signItemHeader} from "./signItem.ts"
import {readStateFile} from "./stateFile.ts"
import {TurboUploadClient} from "./TurboUploadClient.ts"
import type {StorageBackend, UploadRequest, UploadResult} from "./types.ts"

export interface BundlerStorageOptions {
    /**
     * The bundler's URL: Turbo's upload service (`https://upload.ardrive.io`) or the devnet's bundler; a URL whose path
     * names `~bundler@1.0` is a HyperBEAM node's item endpoint (one POST per item, no resumable multi-part uploads).
     */
    bundler: string
    /** A gateway that serves items by id; each uploaded file is checked there before `uploadFile` returns. */
    gateway: string
    wallet: ArweaveJwk
    /** Folder for the resume state of unfinished uploads. */
    stateDir: string
    retry?: RetryOptions
    /** Bytes per chunk of a file upload; Turbo (and the devnet) take 5 MiB to 500 MiB. Defaults to 5 MiB, as turbo-sdk. */
    chunkSize?: number
    /** Chunks in flight at once; memory use is about this times `chunkSize`. Defaults to `4`. */
    concurrency?: number
    /** Defaults to the global `fetch`; tests pass one that fails on cue. */
    fetch?: typeof fetch
}

const MiB = 1024 * 1024

/**
 * Uploads as signed ANS-104 data items through a bundler that speaks Turbo's protocol (see
 * `TurboUploadClient`): small data in one POST, files as a chunked multi-part upload read
 * from disk a chunk at a time. A file's state is saved after every confirmed chunk, so the
 * same upload run again sends only the chunks the bundler has not confirmed, and nothing
 * once it is done.
 */
export class BundlerStorage implements StorageBackend {
    private readonly _client: TurboUploadClient
    private readonly _items: ItemEndpointClient | null
    private readonly _gateway: string
    private readonly _wallet: ArweaveJwk
    private readonly _stateDir: string
    private readonly _retry: RetryOptions
    private readonly _chunkSize: number
    private readonly _concurrency: number
    private readonly _fetch: typeof fetch

    public constructor({
        bundler,
        gateway,
        wallet,
        stateDir,
        retry = {},
        chunkSize = 5 * MiB,
        concurrency = 4,
        fetch: http = fetch
    }: BundlerStorageOptions) {
        for (const [name, value] of Object.entries({chunkSize, concurrency}))
            if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`)
        this._client = new TurboUploadClient({url: bundler, retry, fetch: http})
        this._items = isItemEndpoint(bundler) ? new ItemEndpointClient({url: bundler, retry, fetch: http}) : null
        this._gateway = gateway.replace(/\/$/, "")
        this._wallet = wallet
        this._stateDir = stateDir
        this._retry = retry
        this._chunkSize = chunkSize
        this._concurrency = concurrency
        this._fetch = http
    }

    public async uploadData(data: Uint8Array | string, tags: Tag[]): Promise<{id: string}> {
        const {id, raw} = await signDataItem(this._wallet, data, tags)
        if (this._items != null) {
            await this._items.postItem(raw)
            return {id}
        }
        const receipt = await this._client.postItem(raw)
        if (receipt != null && receipt.id !== id) throw new GatewayError(`The bundler acknowledged ${receipt.id} for data item ${id}`)
        return {id}
    }

    /**
     * Uploads a file as one data item, resuming the upload of the same file and tags where the
     * last run stopped. A file uploaded before is not sent again while the gateway serves it:
     * publishing can fail after the upload (registration), and a retry must not cost the upload.
     */
    public async uploadFile({file, tags, onProgress = () => {}}: UploadRequest): Promise<UploadResult> {
        const digest = await digestFile(file)
        const stateFile = path.join(this._stateDir, this._stateKey(digest, tags) + ".json")
        const state = (await this._resumable(stateFile, digest)) ?? (await this._newState(digest, tags))
        const chunksTotal = Math.ceil(state.itemSize / state.chunkSize)
        if (state.phase === "done") {
            onProgress({bytes: digest.size, total: digest.size, resumedFrom: digest.size})
            return {id: state.id, chunksSent: 0, chunksTotal}
        }
        const upload = new ChunkedItemUpload({client: this._client, state, stateFile, concurrency: this._concurrency})
        await upload.save()
        const chunksSent =
            this._items == null
                ? await upload.run(file, digest.size, onProgress)
                : await this._items.postFile(Buffer.from(state.header, "base64url"), file).then(() => {
                      onProgress({bytes: digest.size, total: digest.size, resumedFrom: 0})
                      return chunksTotal
                  })
        // A bundler makes items readable at once: one the gateway does not serve after the retries is an error.
        await withRetry(
            `Reading ${state.id} back from ${this._gateway}`,
            async () => {
                if (!(await this._served(state.id, digest.size))) throw new Error("HTTP 404")
            },
            this._retry
        )
        state.phase = "done"
        await upload.save()
        return {id: state.id, chunksSent, chunksTotal}
    }

    /** The same bytes under the same tags and wallet resume the same upload; anything else starts anew. */
    private _stateKey(digest: DataDigest, tags: Tag[]) {
        const identity = [walletAddress(this._wallet), digest.size, digest.sha384.toString("hex"), tags]
        return createHash("sha256").update(JSON.stringify(identity)).digest("hex").slice(0, 32)
    }

    /** The saved state of this upload; a finished one only while the gateway serves it (a devnet reset forgets it). */
    private async _resumable(stateFile: string, digest: DataDigest): Promise<UploadState | null> {
        const saved = await readStateFile(stateFile, (value) => UploadStateSchema.parse(value))
        if (saved?.phase !== "done") return saved
        const served = await withRetry(`Asking ${this._gateway} for ${saved.id}`, () => this._served(saved.id, digest.size), this._retry)
        return served ? saved : null
    }

    private async _newState(digest: DataDigest, tags: Tag[]): Promise<UploadState> {
        const {id, header} = await signItemHeader(this._wallet, tags, digest)
        return {
            id,
            header: header.toString("base64url"),
            itemSize: header.length + digest.size,
            chunkSize: this._chunkSize,
            uploadId: null,
            confirmed: [],
            phase: "uploading"
        }
    }

    /** Whether the gateway serves the item, asked once: false when it answers 404. */
    private async _served(id: string, size: number): Promise<boolean> {
        const response = await this._fetch(`${this._gateway}/${id}`, {method: "HEAD"})
        if (response.status === 404) return false
        if (!response.ok) throw new Error(`HTTP ${response.status}`)
        const length = response.headers.get("content-length")
        if (length != null && Number(length) !== size) throw new GatewayError(`The gateway serves ${length} bytes for ${id}, not ${size}`)
        return true
    }
}
