import {mkdir} from "node:fs/promises"
import {dirname} from "node:path"
import {ENCODINGS} from "../testModel/encodings.ts"
import {writeGguf, type GgufTensor, type GgufValue} from "../testModel/ggufWriter.ts"
import type {ModelShape} from "../testModel/presets.ts"
import {CHAT_TEMPLATE, UNK_ID} from "../testModel/tokenizer.ts"
import {tensorLayout} from "./llamaWeights.ts"
import {RMS_EPSILON, ROPE_FREQ_BASE} from "./LlamaPass.ts"
import type {StoryVocabulary} from "./storyVocabulary.ts"

export interface WriteTrainedModelOptions {
    /** Destination file; parent folders are created. */
    path: string
    /** `general.name`. */
    name: string
    shape: ModelShape
    vocabulary: StoryVocabulary
    /** Flat weights laid out as `tensorLayout(shape)`. */
    weights: Float32Array
}

/**
 * Writes trained weights as an f32 llama GGUF with the same metadata, tensor names and chat template as
 * the generated test models, so node-llama-cpp loads it the same way. Returns the file's size in bytes.
 * Q and K are stored as trained, unpermuted: the trainer rotates the pairs (2i, 2i+1) exactly as llama.cpp
 * does for the `llama` architecture, so no converter's permutation applies.
 */
export async function writeTrainedModel({path, name, shape, vocabulary, weights}: WriteTrainedModelOptions): Promise<number> {
    if (vocabulary.tokens.length !== shape.vocabularySize)
        throw new RangeError(`${vocabulary.tokens.length} tokens for a vocabulary of ${shape.vocabularySize}`)
    const encoding = ENCODINGS.f32
    const tensors = tensorLayout(shape).map((slot): GgufTensor => ({
        name: slot.name,
        dims: slot.dims,
        ggmlType: encoding.ggmlType,
        byteLength: encoding.byteLength(slot.length),
        *data() {
            const bytes = new Uint8Array(encoding.byteLength(slot.length))
            encoding.encode(weights.subarray(slot.offset, slot.offset + slot.length), bytes)
            yield bytes
        }
    }))
    const u32 = (value: number) => ({type: "u32", value}) as const
    const metadata: [string, GgufValue][] = [
        ["general.architecture", {type: "string", value: "llama"}],
        ["general.name", {type: "string", value: name}],
        ["general.license", {type: "string", value: "MIT"}],
        ["general.file_type", u32(encoding.fileType)],
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
    await mkdir(dirname(path), {recursive: true})
    return writeGguf(path, {metadata, tensors})
}
