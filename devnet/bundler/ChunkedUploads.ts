import {randomUUID} from "node:crypto"
import {constants} from "node:fs"
import {mkdir, open, readdir, readFile, truncate} from "node:fs/promises"
import path from "node:path"
import {z} from "zod"
import {saveStateFile} from "../../sdk/storage/stateFile.ts"
import type {ItemStore, StoredItem} from "./ItemStore.ts"

export interface ChunkedUploadsOptions {
    /** Folder for the uploads' part files and records. */
    dir: string
    /** Where finished, verified items go. */
    store: ItemStore
}

/** Turbo's bounds on a chunk (turbo-upload-service `multipartChunkMinSize`/`MaxSize`): a client the devnet accepts, Turbo accepts. */
export const MIN_CHUNK_SIZE = 5 * 1024 * 1024
export const MAX_CHUNK_SIZE = 500 * 1024 * 1024

const UploadRecordSchema = z.object({
    id: z.string(),
    /** Null until the first chunk, whose size it then takes, as Turbo does for uploads opened without one. */
    chunkSize: z.number().int().positive().nullable(),
    /** `[offset, size]` of each chunk written in full. */
    chunks: z.array(z.tuple([z.number(), z.number()])),
    status: z.enum(["ASSEMBLING", "VALIDATING", "FINALIZED", "INVALID"]),
    itemId: z.string().optional(),
    /** A Turbo failure status (`INVALID`), with what went wrong in `detail`. */
    failedReason: z.string().optional(),
    detail: z.string().optional()
})
export type UploadRecord = z.infer<typeof UploadRecordSchema>

/** A request the upload cannot take; `status` is the HTTP answer. */
export class UploadRefusal extends Error {
    public override readonly name = "UploadRefusal"

    public constructor(
        public readonly status: number,
        message: string
    ) {
        super(message)
    }
}

/**
 * Turbo-style multi-part uploads on disk: chunks are written at their offsets into one part
 * file, straight from the request, and the item is verified in one streamed pass at finalize.
 * Records are saved after every chunk, so uploads survive a devnet restart.
 */
export class ChunkedUploads {
    private readonly _dir: string
    private readonly _store: ItemStore
    private readonly _uploads = new Map<string, UploadRecord>()
    /** The last write of each record: chunks of one upload arrive concurrently, and writes must not interleave. */
    private readonly _writes = new Map<string, Promise<void>>()

    private constructor({dir, store}: ChunkedUploadsOptions) {
        this._dir = dir
        this._store = store
    }

    public static async open(options: ChunkedUploadsOptions): Promise<ChunkedUploads> {
        const uploads = new ChunkedUploads(options)
        await mkdir(options.dir, {recursive: true})
        for (const name of (await readdir(options.dir)).filter((file) => file.endsWith(".json"))) {
            const file = path.join(options.dir, name)
            const record = await readFile(file, "utf8")
                .then((text) => JSON.parse(text) as unknown)
                .catch(() => null)
            const parsed = UploadRecordSchema.safeParse(record)
            if (parsed.success) uploads._uploads.set(parsed.data.id, parsed.data)
        }
        // A validation cut short by a restart is simply run again.
        for (const upload of uploads._uploads.values()) if (upload.status === "VALIDATING") void uploads._validate(upload)
        return uploads
    }

    public async create(chunkSize: number | null): Promise<UploadRecord> {
        if (chunkSize != null && (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE))
            throw new UploadRefusal(400, "Invalid chunk size")
        const upload: UploadRecord = {id: randomUUID(), chunkSize, chunks: [], status: "ASSEMBLING"}
        await this._save(upload)
        return upload
    }

    /** The upload; a 404 refusal when there is none. */
    public get(id: string): UploadRecord {
        const upload = this._uploads.get(id)
        if (upload == null) throw new UploadRefusal(404, `Multipart upload ${id} not found`)
        return upload
    }

    /** Writes one chunk of `size` bytes at `offset` as it arrives; it counts only once every byte is on disk. */
    public async writeChunk(id: string, offset: number, size: number, body: AsyncIterable<Buffer>): Promise<void> {
        const upload = this.get(id)
        if (upload.status !== "ASSEMBLING") throw new UploadRefusal(400, `Upload ${id} is ${upload.status}`)
        if (!Number.isSafeInteger(size) || size <= 0) throw new UploadRefusal(400, "A chunk needs a positive Content-Length")
        if (upload.chunkSize == null && upload.chunks.length === 0) upload.chunkSize = size
        const chunkSize = upload.chunkSize!
        if (!Number.isSafeInteger(offset) || offset < 0 || offset % chunkSize !== 0 || size > chunkSize)
            throw new UploadRefusal(400, `Invalid chunk: ${size} bytes at offset ${offset} in an upload of ${chunkSize}-byte chunks`)

        const file = await open(this._partFile(id), constants.O_RDWR | constants.O_CREAT)
        let written = 0
        try {
            for await (const piece of body) {
                if (written + piece.length > size) throw new UploadRefusal(400, `The chunk is longer than its Content-Length ${size}`)
                await file.write(piece, 0, piece.length, offset + written)
                written += piece.length
            }
        } finally {
            await file.close()
        }
        if (written !== size) throw new UploadRefusal(400, `The chunk ended after ${written} of ${size} bytes`)
        upload.chunks = [...upload.chunks.filter(([at]) => at !== offset), [offset, size]]
        await this._save(upload)
    }

    /** Checks every byte arrived, then verifies and stores the item in the background; `status` tells the outcome. */
    public async finalize(id: string): Promise<UploadRecord> {
        const upload = this.get(id)
        if (upload.status !== "ASSEMBLING") return upload
        const chunks = [...upload.chunks].sort(([a], [b]) => a - b)
        let end = 0
        for (const [offset, size] of chunks) {
            if (offset !== end) throw new UploadRefusal(400, `Missing chunk at offset ${end}`)
            end = offset + size
        }
        if (end === 0) throw new UploadRefusal(400, "No chunks were uploaded")
        upload.status = "VALIDATING"
        await this._save(upload)
        void this._validate(upload)
        return upload
    }

    /** The stored item of a finalized upload. */
    public item(upload: UploadRecord): StoredItem | undefined {
        return upload.itemId == null ? undefined : this._store.get(upload.itemId)
    }

    /** Runs in the background: its outcome is the upload's status, so it never throws. */
    private async _validate(upload: UploadRecord) {
        try {
            const end = Math.max(...upload.chunks.map(([offset, size]) => offset + size))
            await truncate(this._partFile(upload.id), end)
            const {item} = await this._store.addFile(this._partFile(upload.id))
            Object.assign(upload, {status: "FINALIZED", itemId: item.id})
        } catch (error) {
            const detail = error instanceof Error ? error.message : String(error)
            Object.assign(upload, {status: "INVALID", failedReason: "INVALID", detail})
        }
        // A record left VALIDATING on disk is validated again at the next start.
        await this._save(upload).catch(() => {})
    }

    private _partFile(id: string) {
        return path.join(this._dir, `${id}.part`)
    }

    private async _save(upload: UploadRecord) {
        this._uploads.set(upload.id, upload)
        const snapshot = structuredClone(upload)
        const file = path.join(this._dir, `${upload.id}.json`)
        const write = (this._writes.get(upload.id) ?? Promise.resolve()).catch(() => {}).then(() => saveStateFile(file, snapshot))
        this._writes.set(upload.id, write)
        await write
    }
}
