import type {Tag} from "../ao/index.ts"

/** Where an upload stands, for progress bars. */
export interface TransferProgress {
    /** Bytes confirmed so far (including those confirmed by an earlier, interrupted run). */
    bytes: number
    total: number
    /** Bytes this run had already found confirmed when it started. */
    resumedFrom: number
}

export interface UploadRequest {
    file: string
    tags: Tag[]
    onProgress?: (progress: TransferProgress) => void
}

export interface UploadResult {
    /** The Arweave transaction (or data item) id. */
    id: string
    /** Chunks this run sent; a resumed upload sends only those not confirmed before. */
    chunksSent: number
    chunksTotal: number
}

/**
 * Puts files on Arweave. `ArweaveChunkedStorage` posts L1 transactions through
 * a gateway; a bundler backend (e.g. Turbo) can implement the same interface
 * without touching callers.
 */
export interface StorageBackend {
    uploadFile(request: UploadRequest): Promise<UploadResult>
    uploadData(data: Uint8Array | string, tags: Tag[]): Promise<{id: string}>
}
