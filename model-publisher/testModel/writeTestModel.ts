import {mkdir} from "node:fs/promises"
import {dirname} from "node:path"
import {ENCODINGS, matrixTypeFor, WEIGHT_TYPES, type WeightType} from "./encodings.ts"
import {writeGguf, type GgufTensor, type GgufValue, type WriteProgress} from "./ggufWriter.ts"
import {PRESETS, type ModelShape, type PresetName} from "./presets.ts"
import {assertSeed, Prng} from "./prng.ts"
import {BOS_ID, buildVocabulary, CHAT_TEMPLATE, EOS_ID, UNK_ID, type TokenKind, type Vocabulary} from "./tokenizer.ts"

export interface WriteTestModelOptions {
    /** Model shape; see `PRESETS`. */
    preset: PresetName
    /** Integer in [0, 2^32). The same preset and seed give the same weights in every `type`. */
    seed: number
    /**
     * Precision of the matrices. Defaults to the preset's: f32 for tiny, f16 for small, q8_0 for 125m.
     * A matrix whose rows do not fit the type's blocks is stored as llama.cpp's quantizer would store
     * it (see `matrixTypeFor`): with q4_K, tiny's and small's 64-, 128- and 384-wide rows become q5_0.
     */
    type?: WeightType
    /**
     * Changes to the preset's shape, e.g. `{ embeddingLength: 256, feedForwardLength: 512 }` on tiny
     * for a small model whose every matrix is really q4_K. The file's name then says "custom".
     * Defaults to none.
     */
    shape?: Partial<ModelShape>
    /** Destination file; parent folders are created. */
    path: string
    /** Called after every chunk written. Defaults to none. */
    onProgress?: (progress: WriteProgress) => void
}

export interface WrittenTestModel {
    readonly path: string
    readonly type: WeightType
    readonly sizeBytes: number
    readonly parameterCount: number
}

// Values generated per chunk: bounds memory whatever the model size, and keeps writes large.
const CHUNK_VALUES = 1 << 20
// Output-row gain per kind of token: control, byte and prefix tokens are damped so greedy text
// is made of whole words and never stops early on </s>; inflections ("boated") slightly, so
// plain words dominate.
const OUTPUT_GAIN: Readonly<Record<TokenKind, number>> = {
    control: 0.25,
    byte: 0.25,
    prefix: 0.25,
    punctuation: 1,
    word: 1,
    inflection: 0.85
}
// Standard deviation of a word's logit (the final norm makes hidden states unit-RMS). Far above
// 1 so the model is confident: median top-1 probability is 0.8 to 0.9 instead of a near-uniform
// spread over the vocabulary.
const LOGIT_STD = 12
const ROPE_FREQ_BASE = 10_000
const RMS_EPSILON = 1e-5

/** Writes a deterministic llama GGUF with seeded random weights and an English-word vocabulary. */
export async function writeTestModel(options: WriteTestModelOptions): Promise<WrittenTestModel> {
    if (!Object.hasOwn(PRESETS, options.preset)) throw new RangeError(`unknown preset ${JSON.stringify(options.preset)}`)
    const preset = PRESETS[options.preset]
    const type = options.type ?? preset.defaultType
    if (!WEIGHT_TYPES.includes(type)) throw new RangeError(`unknown weight type ${JSON.stringify(type)}`)
    assertSeed(options.seed)

    const shape = {...preset.shape, ...options.shape}
    assertShape(shape)
    const vocabulary = buildVocabulary(shape.vocabularySize)
    const tensors = planTensors(shape, vocabulary, options.seed, type)
    const name = `weavelm-test-${options.preset}${options.shape === undefined ? "" : "-custom"}-seed${options.seed}`
    await mkdir(dirname(options.path), {recursive: true})
    const sizeBytes = await writeGguf(
        options.path,
        {
            metadata: llamaMetadata({
                name,
                shape,
                vocabulary: {...vocabulary, bosId: BOS_ID, eosId: EOS_ID},
                fileType: ENCODINGS[type].fileType
            }),
            tensors
        },
        options.onProgress
    )
    const parameterCount = tensors.reduce((sum, tensor) => sum + tensor.dims.reduce((a, b) => a * b, 1), 0)
    return {path: options.path, type, sizeBytes, parameterCount}
}

function assertShape(shape: ModelShape): void {
    for (const [key, value] of Object.entries(shape))
        if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`shape.${key} must be a positive integer, got ${value}`)
    if (shape.embeddingLength % shape.headCount !== 0 || shape.headCount % shape.headCountKv !== 0)
        throw new RangeError("shape needs embeddingLength divisible by headCount, and headCount by headCountKv")
}

/** What a llama GGUF's metadata is made of: the same keys for generated and trained models. */
export interface LlamaMetadataOptions {
    name: string
    shape: ModelShape
    vocabulary: Pick<Vocabulary, "tokens" | "scores" | "types"> & {bosId: number; eosId: number}
    /** llama.cpp's `general.file_type`. */
    fileType: number
    /** Keys written right after `general.name` (`general.license`, ...). Defaults to none. */
    general?: [string, GgufValue][]
}

export function llamaMetadata({name, shape, vocabulary, fileType, general = []}: LlamaMetadataOptions): [string, GgufValue][] {
    const u32 = (value: number) => ({type: "u32", value}) as const
    return [
        ["general.architecture", {type: "string", value: "llama"}],
        ["general.name", {type: "string", value: name}],
        ...general,
        ["general.file_type", u32(fileType)],
        ["general.quantization_version", u32(2)],
        ["llama.vocab_size", u32(shape.vocabularySize)],
        ["llama.context_length", u32(shape.contextLength)],
        ["llama.embedding_length", u32(shape.embeddingLength)],
        ["llama.block_count", u32(shape.blockCount)],
        ["llama.feed_forward_length", u32(shape.feedForwardLength)],
        ["llama.attention.head_count", u32(shape.headCount)],
        ["llama.attention.head_count_kv", u32(shape.headCountKv)],
        ["llama.rope.dimension_count", u32(shape.embeddingLength / shape.headCount)],
        ["llama.rope.freq_base", {type: "f32", value: ROPE_FREQ_BASE}],
        ["llama.attention.layer_norm_rms_epsilon", {type: "f32", value: RMS_EPSILON}],
        ["tokenizer.ggml.model", {type: "string", value: "llama"}],
        ["tokenizer.ggml.tokens", {type: "string[]", value: vocabulary.tokens}],
        ["tokenizer.ggml.scores", {type: "f32[]", value: vocabulary.scores}],
        ["tokenizer.ggml.token_type", {type: "i32[]", value: vocabulary.types}],
        ["tokenizer.ggml.unknown_token_id", u32(UNK_ID)],
        ["tokenizer.ggml.bos_token_id", u32(vocabulary.bosId)],
        ["tokenizer.ggml.eos_token_id", u32(vocabulary.eosId)],
        ["tokenizer.ggml.add_bos_token", {type: "bool", value: true}],
        ["tokenizer.ggml.add_eos_token", {type: "bool", value: false}],
        ["tokenizer.chat_template", {type: "string", value: CHAT_TEMPLATE}]
    ]
}

/**
 * Lays out llama.cpp's tensors. Matrices are [fan_in, fan_out] in ggml order, drawn with
 * std 1/sqrt(fan_in) so activations keep their scale through the layers.
 */
function planTensors(shape: ModelShape, vocabulary: Vocabulary, seed: number, type: WeightType): GgufTensor[] {
    const dim = shape.embeddingLength
    const kvDim = (dim / shape.headCount) * shape.headCountKv
    const ffn = shape.feedForwardLength
    const matrix = (name: string, fanIn: number, fanOut: number, std = 1 / Math.sqrt(fanIn), rowScale?: (row: number) => number) =>
        randomMatrix(name, fanIn, fanOut, {seed, std, type, rowScale})
    const outputRowScale = (row: number) => OUTPUT_GAIN[vocabulary.kinds[row]!]

    // Unit-variance embeddings put the residual stream on the same scale as each block's output.
    const tensors = [matrix("token_embd.weight", dim, shape.vocabularySize, 1)]
    for (let block = 0; block < shape.blockCount; block++) {
        const blk = `blk.${block}`
        tensors.push(
            ones(`${blk}.attn_norm.weight`, dim),
            matrix(`${blk}.attn_q.weight`, dim, dim),
            matrix(`${blk}.attn_k.weight`, dim, kvDim),
            matrix(`${blk}.attn_v.weight`, dim, kvDim),
            matrix(`${blk}.attn_output.weight`, dim, dim),
            ones(`${blk}.ffn_norm.weight`, dim),
            matrix(`${blk}.ffn_gate.weight`, dim, ffn),
            matrix(`${blk}.ffn_up.weight`, dim, ffn),
            matrix(`${blk}.ffn_down.weight`, ffn, dim)
        )
    }
    tensors.push(
        ones("output_norm.weight", dim),
        matrix("output.weight", dim, shape.vocabularySize, LOGIT_STD / Math.sqrt(dim), outputRowScale)
    )
    return tensors
}

/** RMS-norm gains of 1: the norm then only rescales, as in a freshly initialised llama. */
function ones(name: string, length: number): GgufTensor {
    const encoding = ENCODINGS.f32
    return {
        name,
        dims: [length],
        ggmlType: encoding.ggmlType,
        byteLength: encoding.byteLength(length),
        *data() {
            const bytes = new Uint8Array(encoding.byteLength(length))
            encoding.encode(new Float32Array(length).fill(1), bytes)
            yield bytes
        }
    }
}

interface RandomMatrixOptions {
    seed: number
    std: number
    type: WeightType
    rowScale?: ((row: number) => number) | undefined
}

/** A [rowLength, rows] matrix drawn from the tensor's own stream, generated and encoded chunk by chunk. */
function randomMatrix(name: string, rowLength: number, rows: number, options: RandomMatrixOptions): GgufTensor {
    const encoding = ENCODINGS[matrixTypeFor(options.type, rowLength)]
    return {
        name,
        dims: [rowLength, rows],
        ggmlType: encoding.ggmlType,
        byteLength: encoding.byteLength(rowLength * rows),
        // Each yielded chunk is overwritten by the next one: the writer consumes it in between.
        *data() {
            const prng = new Prng(options.seed, name)
            const rowsPerChunk = Math.max(1, Math.floor(CHUNK_VALUES / rowLength))
            const values = new Float32Array(rowsPerChunk * rowLength)
            const bytes = new Uint8Array(encoding.byteLength(values.length))
            for (let row = 0; row < rows; row += rowsPerChunk) {
                const chunkRows = Math.min(rowsPerChunk, rows - row)
                const chunk = values.subarray(0, chunkRows * rowLength)
                prng.fillNormal(chunk, options.std)
                if (options.rowScale !== undefined) {
                    for (let r = 0; r < chunkRows; r++) {
                        const scale = options.rowScale(row + r)
                        if (scale !== 1) for (let i = r * rowLength; i < (r + 1) * rowLength; i++) chunk[i] = chunk[i]! * scale
                    }
                }
                const out = bytes.subarray(0, encoding.byteLength(chunk.length))
                encoding.encode(chunk, out)
                yield out
            }
        }
    }
}
