import {createHash} from "node:crypto"
import {unlink} from "node:fs/promises"
import path from "node:path"
import type Arweave from "arweave"
import {bufferTob64Url} from "arweave/node/lib/utils.js"
import type {Tag} from "../ao/index.ts"
import type {ArweaveJwk} from "../wallet/index.ts"
import {chunkFile, readChunk, type FileChunks} from "./chunkFile.ts"
import {GatewayError, withRetry, type RetryOptions} from "./retry.ts"
import {readStateFile, saveStateFile} from "./stateFile.ts"
import type {StorageBackend, UploadRequest, UploadResult} from "./types.ts"

export interface ArweaveChunkedStorageOptions {
    arweave: Arweave
    wallet: ArweaveJwk
    /** Folder for the resume state of unfinished uploads. */
    stateDir: string
    retry?: RetryOptions
}

/** What survives an interrupted upload: the signed header and how many chunks the gateway confirmed. */
interface UploadState {
    transaction: Record<string, unknown>
    headerPosted: boolean
    confirmedChunks: number
}

/**
 * L1 Arweave transactions posted through a gateway: the header, then each
 * chunk with its merkle proof, read from the file on demand. Progress is saved
 * after every confirmed chunk, so running the same upload again resumes where
 * the last run stopped instead of starting over.
 */
export class ArweaveChunkedStorage implements StorageBackend {
    private readonly _arweave: Arweave
    private readonly _wallet: ArweaveJwk
    private readonly _stateDir: string
    private readonly _retry: RetryOptions

    public constructor({arweave, wallet, stateDir, retry = {}}: ArweaveChunkedStorageOptions) {
        this._arweave = arweave
        this._wallet = wallet
        this._stateDir = stateDir
        this._retry = retry
    }

    public async uploadFile({file, tags, onProgress = () => {}}: UploadRequest): Promise<UploadResult> {
        const layout = await chunkFile(file)
        const stateFile = path.join(this._stateDir, stateKey(layout, tags) + ".json")
        const state = (await readStateFile(stateFile, (value) => value as UploadState)) ?? (await this._newState(layout, tags))
        await saveStateFile(stateFile, state)
        const transaction = this._arweave.transactions.fromRaw(state.transaction)
        transaction.chunks = {data_root: layout.dataRoot, chunks: layout.chunks, proofs: layout.proofs}

        if (!state.headerPosted) {
            await this._post("tx", transaction, "Posting the transaction header")
            state.headerPosted = true
            await saveStateFile(stateFile, state)
        }

        const total = layout.size
        const resumedFrom = layout.chunks[state.confirmedChunks - 1]?.maxByteRange ?? 0
        const firstToSend = state.confirmedChunks
        onProgress({bytes: resumedFrom, total, resumedFrom})
        for (let index = firstToSend; index < layout.chunks.length; index++) {
            const chunk = layout.chunks[index]!
            const proof = layout.proofs[index]!
            const bytes = await readChunk(file, chunk)
            await this._post(
                "chunk",
                {
                    data_root: transaction.data_root,
                    data_size: transaction.data_size,
                    data_path: bufferTob64Url(proof.proof),
                    offset: String(proof.offset),
                    chunk: bufferTob64Url(bytes)
                },
                `Uploading chunk ${index + 1} of ${layout.chunks.length}`
            )
            state.confirmedChunks = index + 1
            await saveStateFile(stateFile, state)
            onProgress({bytes: chunk.maxByteRange, total, resumedFrom})
        }
        await unlink(stateFile).catch(() => {})
        return {id: transaction.id, chunksSent: layout.chunks.length - firstToSend, chunksTotal: layout.chunks.length}
    }

    public async uploadData(data: Uint8Array | string, tags: Tag[]): Promise<{id: string}> {
        const transaction = await this._arweave.createTransaction({data}, this._wallet as never)
        for (const tag of tags) transaction.addTag(tag.name, tag.value)
        await this._arweave.transactions.sign(transaction, this._wallet as never)
        const uploader = await this._arweave.transactions.getUploader(transaction)
        while (!uploader.isComplete) await withRetry("Uploading to the gateway", () => uploader.uploadChunk(), this._retry, isRejection)
        return {id: transaction.id}
    }

    /** Builds and signs the header once; a resumed upload reuses it so its id stays the same. */
    private async _newState(layout: FileChunks, tags: Tag[]): Promise<UploadState> {
        const [anchor, reward] = await withRetry(
            "Asking the gateway for an anchor and a price",
            () => Promise.all([this._arweave.transactions.getTransactionAnchor(), this._arweave.transactions.getPrice(layout.size)]),
            this._retry
        )
        const transaction = this._arweave.transactions.fromRaw({
            format: 2,
            owner: this._wallet.n,
            last_tx: anchor,
            reward,
            data_size: String(layout.size),
            data_root: bufferTob64Url(layout.dataRoot)
        })
        transaction.chunks = {data_root: layout.dataRoot, chunks: layout.chunks, proofs: layout.proofs}
        for (const tag of tags) transaction.addTag(tag.name, tag.value)
        await this._arweave.transactions.sign(transaction, this._wallet as never)
        const {data: _data, ...header} = transaction.toJSON()
        return {transaction: {...header, data: ""}, headerPosted: false, confirmedChunks: 0}
    }

    private async _post(endpoint: "tx" | "chunk", body: unknown, what: string) {
        await withRetry(
            what,
            async () => {
                const response = await this._arweave.api.post(endpoint, body)
                if (response.status === 200 || response.status === 208) return
                const error = new Error(
                    `HTTP ${response.status} ${typeof response.data === "string" ? response.data : JSON.stringify(response.data)}`
                )
                if (response.status >= 400 && response.status < 500 && response.status !== 429)
                    throw new GatewayError(`${what}: the gateway refused it (${error.message})`)
                throw error
            },
            this._retry
        )
    }
}

function isRejection(error: unknown) {
    return error instanceof Error && /Fatal error uploading/.test(error.message)
}

/** The same bytes under the same tags resume the same upload; anything else starts anew. */
function stateKey(layout: FileChunks, tags: Tag[]) {
    return createHash("sha256").update(bufferTob64Url(layout.dataRoot)).update(JSON.stringify(tags)).digest("hex").slice(0, 32)
}
