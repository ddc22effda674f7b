import {mkdir, readFile, rename, writeFile} from "node:fs/promises"
import path from "node:path"

const HEX_DIGEST = /^[0-9a-f]{64}$/

/**
 * Receipts of direct requests, by Receipt-Hash, as files: served to users at
 * `/v1/receipts/<hash>` and read back when a settlement batches them to Arweave,
 * so a restart loses none that are still to be settled.
 */
export class ReceiptStore {
    readonly #dir: string

    public constructor(dir: string) {
        this.#dir = dir
    }

    public async put(hash: string, bytes: Uint8Array): Promise<void> {
        await mkdir(this.#dir, {recursive: true})
        const file = this.#file(hash)
        await writeFile(file + ".tmp", bytes)
        await rename(file + ".tmp", file)
    }

    /** The stored bytes; null for a hash this worker never stored (or not a hash at all). */
    public async get(hash: string): Promise<Buffer | null> {
        if (!HEX_DIGEST.test(hash)) return null
        return await readFile(this.#file(hash)).catch(() => null)
    }

    #file(hash: string) {
        if (!HEX_DIGEST.test(hash)) throw new RangeError(`not a receipt hash: ${hash}`)
        return path.join(this.#dir, `${hash}.json`)
    }
}
