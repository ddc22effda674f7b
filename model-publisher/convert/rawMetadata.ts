import type {GgufValue} from "../testModel/ggufWriter.ts"

// node-llama-cpp's reader gives metadata as plain JS values, which loses each value's GGUF type
// (u32 or i32 or u64, an f32 or an f64 array). A converted file must keep those types, so the
// key-value section is walked here and every value is carried over as its original bytes.

const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian uint32

// Payload bytes of the fixed-size gguf_type ids: u8, i8, u16, i16, u32, i32, f32, bool, u64, i64, f64.
const FIXED_SIZES: Readonly<Record<number, number>> = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
const STRING = 8
const ARRAY = 9

/** One metadata entry: its key and its value exactly as the file encodes it. */
export type RawMetadataEntry = readonly [key: string, value: Extract<GgufValue, {type: "raw"}>]

/**
 * Reads the key-value section of a GGUF v2 or v3 file from `header`, which holds the file from its
 * first byte to at least the end of that section. Throws on a malformed or truncated section.
 */
export function readRawMetadata(header: Uint8Array): RawMetadataEntry[] {
    const reader = new Reader(header)
    if (reader.u32() !== GGUF_MAGIC) throw new Error("not a GGUF file (bad magic)")
    const version = reader.u32()
    // v1 counted in u32s; v2 and v3 lay out little-endian files identically.
    if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`)
    reader.u64() // tensor count: node-llama-cpp's reader gives the tensor infos
    const count = reader.u64()
    const entries: RawMetadataEntry[] = []
    for (let i = 0; i < count; i++) {
        const key = reader.string()
        const start = reader.offset
        reader.skipValue(reader.u32())
        entries.push([key, {type: "raw", bytes: header.slice(start, reader.offset)}])
    }
    return entries
}

class Reader {
    public offset = 0
    private readonly _view: DataView
    private static readonly _decoder = new TextDecoder("utf-8", {fatal: true})

    public constructor(private readonly _bytes: Uint8Array) {
        this._view = new DataView(_bytes.buffer, _bytes.byteOffset, _bytes.byteLength)
    }

    public u32(): number {
        return this._view.getUint32(this._advance(4), true)
    }

    public u64(): number {
        const value = this._view.getBigUint64(this._advance(8), true)
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF count ${value} is beyond any real file`)
        return Number(value)
    }

    public string(): string {
        const length = this.u64()
        const start = this._advance(length)
        return Reader._decoder.decode(this._bytes.subarray(start, start + length))
    }

    public skipValue(type: number): void {
        if (type === STRING) {
            this._advance(this.u64())
        } else if (type === ARRAY) {
            const itemType = this.u32()
            const count = this.u64()
            const size = FIXED_SIZES[itemType]
            if (size !== undefined) this._advance(size * count)
            else for (let i = 0; i < count; i++) this.skipValue(itemType)
        } else {
            const size = FIXED_SIZES[type]
            if (size === undefined) throw new Error(`unknown GGUF value type ${type} at byte ${this.offset - 4}`)
            this._advance(size)
        }
    }

    private _advance(length: number): number {
        const start = this.offset
        if (start + length > this._bytes.length) throw new Error("GGUF header is truncated")
        this.offset += length
        return start
    }
}
