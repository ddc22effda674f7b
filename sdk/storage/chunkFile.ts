import {createHash} from "node:crypto"
import {open} from "node:fs/promises"
import {buildLayers, generateLeaves, generateProofs, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, type Chunk} from "arweave/node/lib/merkle.js"

/** A file's Arweave chunk layout, computed without holding the file in memory. */
export interface FileChunks {
    size: number
    /** Merkle root of the chunks: the transaction's `data_root`. */
    dataRoot: Uint8Array
    chunks: Chunk[]
    proofs: Array<{offset: number; proof: Uint8Array}>
}

/**
 * Chunk boundaries as arweave-js draws them (`merkle.chunkData`): 256 KiB
 * chunks, except that the last two are balanced when the remainder would be
 * under 32 KiB. Derived from the size alone so the file can be streamed.
 */
export function chunkBoundaries(size: number): Array<[start: number, end: number]> {
    const bounds: Array<[number, number]> = []
    let cursor = 0
    let rest = size
    while (rest >= MAX_CHUNK_SIZE) {
        let chunkSize = MAX_CHUNK_SIZE
        const next = rest - MAX_CHUNK_SIZE
        if (next > 0 && next < MIN_CHUNK_SIZE) chunkSize = Math.ceil(rest / 2)
        bounds.push([cursor, cursor + chunkSize])
        cursor += chunkSize
        rest -= chunkSize
    }
    // arweave-js appends a final zero-length chunk and then discards it
    if (rest > 0 || bounds.length === 0) bounds.push([cursor, cursor + rest])
    return bounds
}

/**
 * Reads a file once, in chunk-sized pieces, and returns its chunk hashes,
 * proofs and data root. Memory grows with the number of chunks (a few hundred
 * bytes each), never with the file's bytes.
 */
export async function chunkFile(file: string, onBytes: (bytes: number) => void = () => {}): Promise<FileChunks> {
    const handle = await open(file, "r")
    try {
        const {size} = await handle.stat()
        const chunks: Chunk[] = []
        const buffer = Buffer.alloc(MAX_CHUNK_SIZE)
        for (const [start, end] of chunkBoundaries(size)) {
            const piece = buffer.subarray(0, end - start)
            await readFully(handle, piece, start)
            chunks.push({dataHash: new Uint8Array(createHash("sha256").update(piece).digest()), minByteRange: start, maxByteRange: end})
            onBytes(end - start)
        }
        const root = await buildLayers(await generateLeaves(chunks))
        return {size, dataRoot: root.id, chunks, proofs: generateProofs(root)}
    } finally {
        await handle.close()
    }
}

/** Reads one chunk's bytes from the file. */
export async function readChunk(file: string, chunk: Chunk): Promise<Buffer> {
    const handle = await open(file, "r")
    try {
        const piece = Buffer.alloc(chunk.maxByteRange - chunk.minByteRange)
        await readFully(handle, piece, chunk.minByteRange)
        return piece
    } finally {
        await handle.close()
    }
}

async function readFully(handle: Awaited<ReturnType<typeof open>>, target: Buffer, position: number) {
    let done = 0
    while (done < target.length) {
        const {bytesRead} = await handle.read(target, done, target.length - done, position + done)
        if (bytesRead === 0) throw new Error("The file changed size while it was read")
        done += bytesRead
    }
}
