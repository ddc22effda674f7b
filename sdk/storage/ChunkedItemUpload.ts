import {open, type FileHandle} from "node:fs/promises"
import {z} from "zod"
import {GatewayError} from "./retry.ts"
import {saveStateFile} from "./stateFile.ts"
import {FAILED_UPLOAD_STATUSES, type TurboUploadClient} from "./TurboUploadClient.ts"
import type {TransferProgress} from "./types.ts"

/**
 * What survives an interrupted upload: the signed header (so the id stays), the upload and the
 * chunks it confirmed; and, once done, the id, so uploading the same file again sends nothing.
 */
export const UploadStateSchema = z.object({
    id: z.string(),
    /** base64url of the signed ANS-104 header; the item is this followed by the file. */
    header: z.string(),
    itemSize: z.number().int().positive(),
    chunkSize: z.number().int().positive(),
    uploadId: z.string().nullable(),
    /** Item offsets of the chunks the bundler confirmed. */
    confirmed: z.array(z.number().int().nonnegative()),
    /** `finalizing` once finalize was posted: only the status remains to be seen. */
    phase: z.enum(["uploading", "finalizing", "done"])
})
export type UploadState = z.infer<typeof UploadStateSchema>

export interface ChunkedItemUploadOptions {
    client: TurboUploadClient
    /** Changed in place as chunks are confirmed, and saved to `stateFile` after every change. */
    state: UploadState
    stateFile: string
    /** Chunks in flight at once. */
    concurrency: number
}

const GiB = 1024 * 1024 * 1024

/**
 * One data item (a signed header followed by a file) through Turbo's multi-part upload:
 * opens the upload or takes up the saved one, posts the chunks the bundler has not confirmed,
 * each read from disk when its turn comes, finalizes and waits until the bundler has the item.
 */
export class ChunkedItemUpload {
    private readonly _client: TurboUploadClient
    private readonly _state: UploadState
    private readonly _stateFile: string
    private readonly _concurrency: number
    private _lastSave: Promise<void> = Promise.resolve()

    public constructor({client, state, stateFile, concurrency}: ChunkedItemUploadOptions) {
        this._client = client
        this._state = state
        this._stateFile = stateFile
        this._concurrency = concurrency
    }

    /** Runs the upload to the bundler's FINALIZED; returns the chunks this run sent. */
    public async run(file: string, fileSize: number, onProgress: (progress: TransferProgress) => void): Promise<number> {
        const state = this._state
        let sent = 0
        for (let restarts = 0; ; restarts++) {
            if (state.phase === "uploading") await this._open()
            if (state.phase === "uploading") {
                await this.save()
                sent += await this._sendChunks(file, fileSize, onProgress)
                await this._client.finalize(state.uploadId!)
                state.phase = "finalizing"
            }
            await this.save()
            const status = await this._awaitFinalized()
            if (status === "FINALIZED") return sent
            // The bundler dropped the upload: send the same signed item again, once.
            Object.assign(state, {uploadId: null, confirmed: [], phase: "uploading"})
            await this.save()
            if (status !== "lost" || restarts > 0) throw new GatewayError(`The bundler did not finalize data item ${state.id}: ${status}`)
        }
    }

    /** Writes the state, one write at a time: chunks confirm concurrently. */
    public save(): Promise<void> {
        const snapshot = structuredClone(this._state)
        this._lastSave = this._lastSave.catch(() => {}).then(() => saveStateFile(this._stateFile, snapshot))
        return this._lastSave
    }

    /**
     * Opens a multi-part upload, or takes up the saved one: with the confirmed chunks the bundler
     * still holds, or at its status when finalize reached the bundler before the last run stopped.
     */
    private async _open() {
        const state = this._state
        if (state.uploadId != null) {
            const held = await this._client.getUpload(state.uploadId)
            if (held != null && held.failedReason == null) {
                const chunks = new Set(held.chunks.map(([offset, size]) => `${offset}:${size}`))
                state.confirmed = state.confirmed.filter((offset) => chunks.has(`${offset}:${this._chunkLength(offset)}`))
                return
            }
            // Turbo stops listing an upload's chunks once finalize has taken it over.
            if (held == null && (await this._client.status(state.uploadId)) != null) {
                state.phase = "finalizing"
                return
            }
        }
        const created = await this._client.createUpload(state.chunkSize)
        Object.assign(state, {uploadId: created.id, chunkSize: created.chunkSize, confirmed: []})
    }

    /** Posts the unconfirmed chunks, `concurrency` at a time, each from one reused buffer per worker. */
    private async _sendChunks(file: string, fileSize: number, onProgress: (progress: TransferProgress) => void): Promise<number> {
        const state = this._state
        const header = Buffer.from(state.header, "base64url")
        let confirmedBytes = state.confirmed.reduce((sum, offset) => sum + this._chunkLength(offset), 0)
        // Progress counts the file's bytes; the first chunk also carries the header.
        const dataBytes = () => Math.min(fileSize, Math.max(0, confirmedBytes - header.length))
        const resumedFrom = dataBytes()
        onProgress({bytes: resumedFrom, total: fileSize, resumedFrom})

        const confirmed = new Set(state.confirmed)
        const queue: number[] = []
        for (let offset = 0; offset < state.itemSize; offset += state.chunkSize) if (!confirmed.has(offset)) queue.push(offset)
        let sent = 0
        let failure: {error: unknown} | null = null
        const handle = await open(file, "r")
        const worker = async () => {
            const buffer = Buffer.alloc(state.chunkSize)
            for (let offset = queue.shift(); offset != null && failure == null; offset = queue.shift()) {
                try {
                    const chunk = buffer.subarray(0, this._chunkLength(offset))
                    await readItemBytes(handle, header, offset, chunk)
                    await this._client.postChunk(state.uploadId!, offset, chunk)
                    sent++
                    confirmedBytes += chunk.length
                    state.confirmed.push(offset)
                    await this.save()
                    onProgress({bytes: dataBytes(), total: fileSize, resumedFrom})
                } catch (error) {
                    failure ??= {error}
                }
            }
        }
        try {
            await Promise.all(Array.from({length: Math.min(this._concurrency, queue.length)}, worker))
        } finally {
            await handle.close()
        }
        if (failure != null) throw (failure as {error: unknown}).error
        return sent
    }

    /** Polls the status as turbo-sdk does, waiting up to 2.5 minutes per GiB (at least one minute). */
    private async _awaitFinalized(): Promise<string> {
        const state = this._state
        const deadline = Date.now() + Math.max(60_000, Math.ceil(state.itemSize / GiB) * 150_000)
        for (let delay = 100; Date.now() < deadline; delay = Math.min(delay * 2, 2000)) {
            const status = await this._client.status(state.uploadId!)
            if (status == null) return "lost"
            if (status.status === "FINALIZED") {
                if (status.receipt != null && status.receipt.id !== state.id)
                    throw new GatewayError(`The bundler finalized ${status.receipt.id} for data item ${state.id}`)
                return "FINALIZED"
            }
            if (FAILED_UPLOAD_STATUSES.includes(status.status)) return status.status
            await new Promise((resolve) => setTimeout(resolve, delay))
        }
        throw new GatewayError(`The bundler did not finalize data item ${state.id} in time`)
    }

    private _chunkLength(offset: number) {
        return Math.min(this._state.chunkSize, this._state.itemSize - offset)
    }
}

/** Fills `target` with the item's bytes from `offset`: the signed header, then the file. */
async function readItemBytes(file: FileHandle, header: Buffer, offset: number, target: Buffer) {
    let filled = offset < header.length ? header.copy(target, 0, offset, Math.min(header.length, offset + target.length)) : 0
    while (filled < target.length) {
        const {bytesRead} = await file.read(target, filled, target.length - filled, offset + filled - header.length)
        if (bytesRead === 0) throw new Error("The file changed size while it was uploaded")
        filled += bytesRead
    }
}
