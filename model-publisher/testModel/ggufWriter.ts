import {open, rename, rm} from "node:fs/promises"

// GGUF v3, little-endian: header, key-value metadata, tensor infos, then tensor data with
// every tensor starting on an `alignment` boundary relative to the start of the data section.

const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian uint32
const GGUF_VERSION = 3
const DEFAULT_ALIGNMENT = 32

// gguf_type ids.
const ValueType = {Uint32: 4, Int32: 5, Float32: 6, Bool: 7, String: 8, Array: 9} as const

/** A metadata value with the GGUF type it is written as. */
export type GgufValue =
    | {readonly type: "u32"; readonly value: number}
    | {readonly type: "f32"; readonly value: number}
    | {readonly type: "bool"; readonly value: boolean}
    | {readonly type: "string"; readonly value: string}
    | {readonly type: "string[]"; readonly value: readonly string[]}
    | {readonly type: "f32[]"; readonly value: ArrayLike<number>}
    | {readonly type: "i32[]"; readonly value: ArrayLike<number>}
    /** A value already encoded (its gguf_type id, then its bytes), copied verbatim from another file. */
    | {readonly type: "raw"; readonly bytes: Uint8Array}

/** One tensor: its info, and its encoded bytes produced lazily (and, when read from a file, asynchronously) so large files stream. */
export interface GgufTensor {
    readonly name: string
    /** ggml order: `dims[0]` is the innermost (contiguous) dimension. */
    readonly dims: readonly number[]
    readonly ggmlType: number
    /** Total bytes `data()` yields; checked while writing. */
    readonly byteLength: number
    data(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

export interface GgufFile {
    readonly metadata: ReadonlyArray<readonly [key: string, value: GgufValue]>
    readonly tensors: readonly GgufTensor[]
    /** Data alignment in bytes, recorded as `general.alignment`. Defaults to 32. */
    readonly alignment?: number
}

export interface WriteProgress {
    readonly bytesWritten: number
    readonly totalBytes: number
}

/**
 * Writes `file` to `path` and returns its size in bytes. Bytes go to `<path>.partial` first and
 * are renamed into place at the end, so an interrupted run never leaves a truncated file that
 * looks like a model.
 */
export async function writeGguf(path: string, file: GgufFile, onProgress?: (progress: WriteProgress) => void): Promise<number> {
    const alignment = file.alignment ?? DEFAULT_ALIGNMENT
    // The writer owns this key: a second copy would disagree with the layout it computes.
    if (file.metadata.some(([key]) => key === "general.alignment"))
        throw new Error("pass general.alignment as `alignment`, not as metadata")
    const offsets: number[] = []
    let dataLength = 0
    for (const tensor of file.tensors) {
        offsets.push(dataLength)
        dataLength = alignUp(dataLength + tensor.byteLength, alignment)
    }

    const header = new ByteWriter()
    const metadata = [...file.metadata, ["general.alignment", {type: "u32", value: alignment}] as const]
    header.u32(GGUF_MAGIC).u32(GGUF_VERSION).u64(file.tensors.length).u64(metadata.length)
    for (const [key, value] of metadata) header.string(key).value(value)
    file.tensors.forEach((tensor, i) => {
        header.string(tensor.name).u32(tensor.dims.length)
        for (const dim of tensor.dims) header.u64(dim)
        header.u32(tensor.ggmlType).u64(offsets[i]!)
    })
    header.pad(alignment)

    const headerBytes = header.bytes()
    const totalBytes = headerBytes.length + dataLength
    const partial = `${path}.partial`
    const handle = await open(partial, "w")
    try {
        let bytesWritten = 0
        const write = async (chunk: Uint8Array) => {
            // write(2) may stop short; a silently truncated tensor would shift every later one.
            for (let offset = 0; offset < chunk.length; ) offset += (await handle.write(chunk, offset)).bytesWritten
            bytesWritten += chunk.length
            onProgress?.({bytesWritten, totalBytes})
        }
        await write(headerBytes)
        for (const tensor of file.tensors) {
            let written = 0
            for await (const chunk of tensor.data()) {
                await write(chunk)
                written += chunk.length
            }
            if (written !== tensor.byteLength)
                throw new Error(`tensor ${tensor.name} produced ${written} bytes, declared ${tensor.byteLength}`)
            const padding = alignUp(written, alignment) - written
            if (padding > 0) await write(new Uint8Array(padding))
        }
        await handle.close()
        await rename(partial, path)
        return totalBytes
    } catch (error) {
        await handle.close().catch(() => {})
        await rm(partial, {force: true})
        throw error
    }
}

function alignUp(offset: number, alignment: number): number {
    return Math.ceil(offset / alignment) * alignment
}

/** Growable little-endian buffer for the header (metadata can hold a 32k-token vocabulary). */
class ByteWriter {
    private buffer = new Uint8Array(1 << 16)
    private view = new DataView(this.buffer.buffer)
    private length = 0
    private static readonly encoder = new TextEncoder()

    u32(value: number): this {
        this.reserve(4).setUint32(this.length - 4, value, true)
        return this
    }

    i32(value: number): this {
        this.reserve(4).setInt32(this.length - 4, value, true)
        return this
    }

    u64(value: number): this {
        this.reserve(8).setBigUint64(this.length - 8, BigInt(value), true)
        return this
    }

    f32(value: number): this {
        this.reserve(4).setFloat32(this.length - 4, value, true)
        return this
    }

    string(value: string): this {
        const bytes = ByteWriter.encoder.encode(value)
        this.u64(bytes.length)
        this.reserve(bytes.length)
        this.buffer.set(bytes, this.length - bytes.length)
        return this
    }

    value(value: GgufValue): this {
        switch (value.type) {
            case "u32":
                return this.u32(ValueType.Uint32).u32(value.value)
            case "f32":
                return this.u32(ValueType.Float32).f32(value.value)
            case "bool":
                this.u32(ValueType.Bool)
                    .reserve(1)
                    .setUint8(this.length - 1, value.value ? 1 : 0)
                return this
            case "string":
                return this.u32(ValueType.String).string(value.value)
            case "string[]":
                this.u32(ValueType.Array).u32(ValueType.String).u64(value.value.length)
                for (const item of value.value) this.string(item)
                return this
            case "f32[]":
                this.u32(ValueType.Array).u32(ValueType.Float32).u64(value.value.length)
                for (let i = 0; i < value.value.length; i++) this.f32(value.value[i]!)
                return this
            case "i32[]":
                this.u32(ValueType.Array).u32(ValueType.Int32).u64(value.value.length)
                for (let i = 0; i < value.value.length; i++) this.i32(value.value[i]!)
                return this
            case "raw":
                this.reserve(value.bytes.length)
                this.buffer.set(value.bytes, this.length - value.bytes.length)
                return this
        }
    }

    pad(alignment: number): this {
        this.reserve(alignUp(this.length, alignment) - this.length)
        return this
    }

    bytes(): Uint8Array {
        return this.buffer.subarray(0, this.length)
    }

    /** Grows by `count` zeroed bytes and returns the view to fill them through. */
    private reserve(count: number): DataView {
        if (this.length + count > this.buffer.length) {
            const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + count))
            grown.set(this.buffer.subarray(0, this.length))
            this.buffer = grown
            this.view = new DataView(grown.buffer)
        }
        this.length += count
        return this.view
    }
}
