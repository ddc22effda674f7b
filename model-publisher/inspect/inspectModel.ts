import {stat} from "node:fs/promises"
import {GgufFileType, readGgufFileInfo} from "node-llama-cpp"

/** What a GGUF file claims to be, read from its header. */
export interface ModelSummary {
    readonly architecture: string
    /** `general.name`, when the file has one. */
    readonly name: string | undefined
    /** Sum of every tensor's element count. */
    readonly parameterCount: number
    /** `general.file_type` as llama.cpp's `llama_ftype` id, when the file has one. */
    readonly fileType: number | undefined
    /** Name of `fileType` in llama.cpp's terms, e.g. "ALL_F32", "MOSTLY_F16", "MOSTLY_Q8_0". */
    readonly fileTypeName: string | undefined
    readonly contextLength: number
    readonly embeddingLength: number
    readonly blockCount: number
    /** Number of entries in `tokenizer.ggml.tokens`. */
    readonly vocabularySize: number
    /** `tokenizer.ggml.model`, e.g. "llama" for SentencePiece. */
    readonly tokenizerModel: string
    readonly sizeBytes: number
}

/** Summarises a GGUF file through node-llama-cpp's reader, without loading the weights. */
export async function inspectModel(path: string): Promise<ModelSummary> {
    const [info, {size}] = await Promise.all([readGgufFileInfo(path, {sourceType: "filesystem", logWarnings: false}), stat(path)])
    const {general, tokenizer} = info.metadata
    const architecture = info.architectureMetadata
    const fileType = general.file_type
    return {
        architecture: general.architecture,
        name: general.name,
        parameterCount: (info.fullTensorInfo ?? []).reduce(
            (sum, tensor) => sum + tensor.dimensions.reduce<number>((count, dim) => count * Number(dim), 1),
            0
        ),
        fileType,
        fileTypeName: fileType === undefined ? undefined : GgufFileType[fileType],
        contextLength: required(architecture.context_length, "context_length", general.architecture),
        embeddingLength: required(architecture.embedding_length, "embedding_length", general.architecture),
        blockCount: required(architecture.block_count, "block_count", general.architecture),
        vocabularySize: tokenizer.ggml.tokens.length,
        tokenizerModel: tokenizer.ggml.model,
        sizeBytes: size
    }
}

// A language model without these cannot be served, so their absence is an error, not a blank.
function required(value: number | undefined, key: string, architecture: string): number {
    if (value === undefined) throw new Error(`GGUF metadata has no ${architecture}.${key}`)
    return value
}
