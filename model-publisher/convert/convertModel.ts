import {mkdir, open, stat, type FileHandle} from "node:fs/promises"
import {dirname} from "node:path"
import {readGgufFileInfo} from "node-llama-cpp"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import {ENCODINGS, WEIGHT_TYPES, type TensorType, type WeightType} from "../testModel/encodings.ts"
import {writeGguf, type GgufTensor, type GgufValue, type WriteProgress} from "../testModel/ggufWriter.ts"
import {readRawMetadata} from "./rawMetadata.ts"
import {planTensor, type TensorStep} from "./tensorPlan.ts"

export interface ConvertModelOptions {
    /** GGUF file to read: one file (not a split model) whose matrices are f32, f16, q8_0, q5_0, q4_0 or q4_K. */
    input: string
    /** GGUF file to write; parent folders are created. Written to `<output>.partial` and renamed at the end. */
    output: string
    /** Precision for every matrix (llama.cpp's fallbacks aside, see `matrixTypeFor`). */
    type: WeightType
    /** Called after every chunk written. Defaults to none. */
    onProgress?: (progress: WriteProgress) => void
}

export interface ConvertedModel {
    readonly path: string
    readonly type: WeightType
    readonly sizeBytes: number
    /** Matrices stored in another type than `type` because their rows do not fit its blocks, in file order. */
    readonly fallbacks: ReadonlyArray<{readonly name: string; readonly type: TensorType}>
}

/** Input the converter cannot use: not a GGUF file, a split model, or a matrix type it cannot read. */
export class ConvertError extends WeaveLMError {
    public override readonly name = "ConvertError"
    public override readonly kind = "user"
}

// Values decoded and re-encoded per chunk: bounds memory whatever the model size (4 MiB of f32).
const CHUNK_VALUES = 1 << 20
const COPY_CHUNK_BYTES = 1 << 22
const DEFAULT_ALIGNMENT = 32
// GGML_QNT_VERSION, which llama-quantize stamps on every file it writes.
const QUANTIZATION_VERSION = 2

/**
 * Re-encodes every weight matrix of a GGUF model at `type`, as llama-quantize would without an
 * importance matrix, and keeps everything else: metadata (with `general.file_type` and
 * `general.quantization_version` set as llama-quantize sets them), tokenizer, norm vectors, tensor
 * order and alignment. Quantized matrices are first decoded as ggml decodes them. Tensors are
 * streamed a chunk of rows at a time, so memory stays bounded by the metadata and one chunk.
 */
export async function convertModel(options: ConvertModelOptions): Promise<ConvertedModel> {
    if (!WEIGHT_TYPES.includes(options.type)) throw new RangeError(`unknown weight type ${JSON.stringify(options.type)}`)
    const {size} = await stat(options.input)
    const info = await readGgufFileInfo(options.input, {
        sourceType: "filesystem",
        logWarnings: false,
        spliceSplitFiles: false,
        // Only tensor infos and a few scalars are read from here; the tokenizer arrays are copied as bytes.
        ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]
    }).catch((error: unknown) => {
        throw new ConvertError(`${options.input} is not a readable GGUF file: ${error instanceof Error ? error.message : String(error)}`)
    })
    // node-llama-cpp's metadata type leaves out gguf-split's keys, which its reader does return.
    const split = (info.metadata as {split?: {count?: number}}).split
    if ((split?.count ?? 1) > 1) throw new ConvertError(`${options.input} is one part of a split model; merge it first`)
    if (info.tensorInfo === undefined || info.infoEndOffset === undefined) throw new ConvertError(`${options.input} has no tensor infos`)

    const input = await open(options.input)
    try {
        const header = await readExactly(input, 0, info.infoEndOffset)
        const metadata = convertMetadata(
            guard(() => readRawMetadata(header)),
            ENCODINGS[options.type].fileType
        )
        const fallbacks: {name: string; type: TensorType}[] = []
        const tensors = info.tensorInfo.map((tensorInfo): GgufTensor => {
            const dims = tensorInfo.dimensions.map(Number)
            const step = guard(() => planTensor({name: tensorInfo.name, dims, ggmlType: tensorInfo.ggmlType}, options.type))
            if (step.kind === "transcode" && step.to !== options.type) fallbacks.push({name: tensorInfo.name, type: step.to})
            const offset = Number(tensorInfo.fileOffset)
            const byteLength = step.kind === "copy" ? step.byteLength : ENCODINGS[step.from].byteLength(step.rowLength * step.rows)
            if (offset + byteLength > size)
                throw new ConvertError(`${options.input} is truncated: tensor ${tensorInfo.name} runs past its end`)
            return {
                name: tensorInfo.name,
                dims,
                ggmlType: step.kind === "copy" ? tensorInfo.ggmlType : ENCODINGS[step.to].ggmlType,
                byteLength: step.kind === "copy" ? step.byteLength : ENCODINGS[step.to].byteLength(step.rowLength * step.rows),
                data: () => tensorData(input, offset, step)
            }
        })
        await mkdir(dirname(options.output), {recursive: true})
        const alignment = info.metadata.general.alignment ?? DEFAULT_ALIGNMENT
        const sizeBytes = await writeGguf(options.output, {metadata, tensors, alignment}, options.onProgress)
        return {path: options.output, type: options.type, sizeBytes, fallbacks}
    } finally {
        await input.close()
    }
}

/**
 * The input's metadata with the values llama-quantize rewrites: `general.file_type` and
 * `general.quantization_version` replaced where they stand or appended, and `general.alignment`
 * left to the writer (which puts it last).
 */
function convertMetadata(entries: ReadonlyArray<readonly [string, GgufValue]>, fileType: number): Array<readonly [string, GgufValue]> {
    const updates = new Map<string, GgufValue>([
        ["general.file_type", {type: "u32", value: fileType}],
        ["general.quantization_version", {type: "u32", value: QUANTIZATION_VERSION}]
    ])
    const converted = entries
        .filter(([key]) => key !== "general.alignment")
        .map(([key, value]) => [key, updates.get(key) ?? value] as const)
    for (const [key, value] of updates) if (!entries.some(([existing]) => existing === key)) converted.push([key, value])
    return converted
}

async function* tensorData(input: FileHandle, offset: number, step: TensorStep): AsyncGenerator<Uint8Array> {
    if (step.kind === "copy") {
        for (let at = 0; at < step.byteLength; at += COPY_CHUNK_BYTES)
            yield await readExactly(input, offset + at, Math.min(COPY_CHUNK_BYTES, step.byteLength - at))
        return
    }
    // Whole rows per chunk: every block lies inside one row, so chunks split no block.
    const from = ENCODINGS[step.from]
    const to = ENCODINGS[step.to]
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_VALUES / step.rowLength))
    const values = new Float32Array(Math.min(rowsPerChunk, step.rows) * step.rowLength)
    const encoded = new Uint8Array(to.byteLength(values.length))
    // Each yielded chunk is overwritten by the next one: the writer consumes it in between.
    for (let row = 0, at = offset; row < step.rows; row += rowsPerChunk) {
        const chunk = values.subarray(0, Math.min(rowsPerChunk, step.rows - row) * step.rowLength)
        const sourceLength = from.byteLength(chunk.length)
        from.decode(await readExactly(input, at, sourceLength), chunk)
        at += sourceLength
        const out = encoded.subarray(0, to.byteLength(chunk.length))
        to.encode(chunk, out)
        yield out
    }
}

async function readExactly(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(length)
    // read(2) may return less than asked; a short read would shift every value after it.
    for (let done = 0; done < length; ) {
        const {bytesRead} = await handle.read(bytes, done, length - done, position + done)
        if (bytesRead === 0) throw new ConvertError(`unexpected end of file at byte ${position + done}`)
        done += bytesRead
    }
    return bytes
}

// The readers throw plain errors about the file's bytes; to a caller those are bad input.
function guard<T>(read: () => T): T {
    try {
        return read()
    } catch (error) {
        throw new ConvertError(error instanceof Error ? error.message : String(error))
    }
}
