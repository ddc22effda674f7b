import {randomUUID} from "node:crypto"
import {createReadStream} from "node:fs"
import {access, appendFile, mkdir, rename, rm} from "node:fs/promises"
import path from "node:path"
import {createInterface} from "node:readline"
import {z} from "zod"
import {ownerAddress, verifyItemFile} from "../../sdk/storage/index.ts"

export interface ItemStoreOptions {
    /** Folder for the items, their index and unfinished uploads; created when missing. */
    dir: string
}

/** What the index keeps of each item: enough to serve its data and answer GraphQL without reading it. */
const StoredItemSchema = z.object({
    id: z.string(),
    /** The signer's address (SHA-256 of the public key), GraphQL's `owner.address`. */
    owner: z.string(),
    /** The public key, base64url: GraphQL's `owner.key`. */
    ownerKey: z.string(),
    signature: z.string(),
    /** Empty when the item names no target. */
    target: z.string(),
    anchor: z.string(),
    tags: z.array(z.object({name: z.string(), value: z.string()})),
    /** Where the data starts in the item's file, and its length. */
    dataOffset: z.number().int().nonnegative(),
    dataSize: z.number().int().nonnegative(),
    /** When the bundler accepted it, in milliseconds. */
    timestamp: z.number()
})
export type StoredItem = z.infer<typeof StoredItemSchema>

/**
 * The devnet bundler's storage: each verified ANS-104 item in its own file under `items/`,
 * and one JSON line per item in `index.jsonl`, read back at start so items survive restarts.
 * Only the index is held in memory, never an item's bytes.
 */
export class ItemStore {
    public readonly dir: string
    private readonly _items = new Map<string, StoredItem>()

    private constructor(dir: string) {
        this.dir = dir
    }

    public static async open({dir}: ItemStoreOptions): Promise<ItemStore> {
        const store = new ItemStore(path.resolve(dir))
        await mkdir(path.join(store.dir, "items"), {recursive: true})
        // Whatever was arriving when the last run stopped can never be finished.
        await rm(path.join(store.dir, "incoming"), {recursive: true, force: true})
        await mkdir(path.join(store.dir, "incoming"))
        await store._load()
        return store
    }

    public get(id: string): StoredItem | undefined {
        return this._items.get(id)
    }

    /** Every item, oldest first. */
    public items(): IterableIterator<StoredItem> {
        return this._items.values()
    }

    /** The file holding an item's bytes, header included. */
    public itemFile(id: string): string {
        return path.join(this.dir, "items", id)
    }

    /** A fresh path for bytes still arriving, to hand to `addFile` once complete. */
    public scratchFile(): string {
        return path.join(this.dir, "incoming", randomUUID())
    }

    /**
     * Verifies the data item in `file` and moves it into the store; the file is gone either way.
     * An item already stored is acknowledged again (`added: false`). Throws
     * `InvalidDataItemError` for anything that is not a validly signed item.
     */
    public async addFile(file: string): Promise<{item: StoredItem; added: boolean}> {
        try {
            const header = await verifyItemFile(file)
            const known = this._items.get(header.id)
            if (known != null) return {item: known, added: false}
            const item: StoredItem = {
                id: header.id,
                owner: ownerAddress(header.owner),
                ownerKey: header.owner.toString("base64url"),
                signature: header.signature.toString("base64url"),
                target: header.target.toString("base64url"),
                anchor: header.anchor.toString("base64url"),
                tags: header.tags,
                dataOffset: header.dataOffset,
                dataSize: header.dataSize,
                timestamp: Date.now()
            }
            await rename(file, this.itemFile(item.id))
            // A leading newline ends any line torn by a crash, so this one parses whatever came before.
            await appendFile(path.join(this.dir, "index.jsonl"), "\n" + JSON.stringify(item))
            this._items.set(item.id, item)
            return {item, added: true}
        } finally {
            await rm(file, {force: true})
        }
    }

    /** A torn last line (a crash mid-append) is skipped: its item was not acknowledged. */
    private async _load() {
        const index = path.join(this.dir, "index.jsonl")
        if (
            !(await access(index).then(
                () => true,
                () => false
            ))
        )
            return
        for await (const line of createInterface({input: createReadStream(index), crlfDelay: Infinity})) {
            if (line === "") continue
            const parsed = StoredItemSchema.safeParse(safeJson(line))
            if (parsed.success) this._items.set(parsed.data.id, parsed.data)
        }
    }
}

function safeJson(line: string): unknown {
    try {
        return JSON.parse(line)
    } catch {
        return null
    }
}
