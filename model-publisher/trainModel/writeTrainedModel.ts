import {mkdir} from "node:fs/promises"
import {dirname} from "node:path"
import {ENCODINGS} from "../testModel/encodings.ts"
import {writeGguf, type GgufTensor} from "../testModel/ggufWriter.ts"
import type {ModelShape} from "../testModel/presets.ts"
import {llamaMetadata} from "../testModel/writeTestModel.ts"
import {tensorLayout} from "./llamaWeights.ts"
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
    const tensors = tensorLayout(shape).map(
        (slot): GgufTensor => ({
            name: slot.name,
            dims: slot.dims,
            ggmlType: encoding.ggmlType,
            byteLength: encoding.byteLength(slot.length),
            *data() {
                const bytes = new Uint8Array(encoding.byteLength(slot.length))
                encoding.encode(weights.subarray(slot.offset, slot.offset + slot.length), bytes)
                yield bytes
            }
        })
    )
    const metadata = llamaMetadata({
        name,
        shape,
        vocabulary,
        fileType: encoding.fileType,
        general: [["general.license", {type: "string", value: "MIT"}]]
    })
    await mkdir(dirname(path), {recursive: true})
    return writeGguf(path, {metadata, tensors})
}
