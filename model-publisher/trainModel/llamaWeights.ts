import type {ModelShape} from "../testModel/presets.ts"
import {Prng} from "../testModel/prng.ts"

// All of a model's weights live in one Float32Array, tensor after tensor in the order the GGUF lists
// them, so the optimizer and the gradient run over one flat array and each tensor is a view into it.
// Matrices are [fan_in, fan_out] in ggml order: fan_out rows of fan_in contiguous values.

/** Where one tensor sits in the flat array, and its GGUF name and ggml dimensions. */
export interface TensorSlot {
    readonly name: string
    readonly dims: readonly number[]
    readonly offset: number
    readonly length: number
}

export interface BlockWeights {
    readonly attentionNorm: Float32Array
    readonly query: Float32Array
    readonly key: Float32Array
    readonly value: Float32Array
    readonly attentionOutput: Float32Array
    readonly feedForwardNorm: Float32Array
    readonly gate: Float32Array
    readonly up: Float32Array
    readonly down: Float32Array
}

/** Named views into a flat array of weights, or of their gradients. */
export interface LlamaWeights {
    readonly tokenEmbedding: Float32Array
    readonly blocks: readonly BlockWeights[]
    readonly outputNorm: Float32Array
    readonly output: Float32Array
}

/** The tensors of a llama model with `shape`, laid out back to back, in GGUF order and with GGUF names. */
export function tensorLayout(shape: ModelShape): TensorSlot[] {
    assertTrainable(shape)
    const {embeddingLength: dim, feedForwardLength: ffn, vocabularySize: vocab} = shape
    const slots: TensorSlot[] = []
    const add = (name: string, ...dims: number[]) => {
        const offset = slots.length === 0 ? 0 : slots[slots.length - 1]!.offset + slots[slots.length - 1]!.length
        slots.push({name, dims, offset, length: dims.reduce((a, b) => a * b, 1)})
    }
    add("token_embd.weight", dim, vocab)
    for (let block = 0; block < shape.blockCount; block++) {
        const blk = `blk.${block}`
        add(`${blk}.attn_norm.weight`, dim)
        add(`${blk}.attn_q.weight`, dim, dim)
        add(`${blk}.attn_k.weight`, dim, dim)
        add(`${blk}.attn_v.weight`, dim, dim)
        add(`${blk}.attn_output.weight`, dim, dim)
        add(`${blk}.ffn_norm.weight`, dim)
        add(`${blk}.ffn_gate.weight`, dim, ffn)
        add(`${blk}.ffn_up.weight`, dim, ffn)
        add(`${blk}.ffn_down.weight`, ffn, dim)
    }
    add("output_norm.weight", dim)
    add("output.weight", dim, vocab)
    return slots
}

export function parameterCount(shape: ModelShape): number {
    const last = tensorLayout(shape).at(-1)!
    return last.offset + last.length
}

/** Views of `values` (weights or gradients, `parameterCount(shape)` long) by role. */
export function weightViews(shape: ModelShape, values: Float32Array): LlamaWeights {
    if (values.length !== parameterCount(shape)) throw new RangeError(`${values.length} values for ${parameterCount(shape)} parameters`)
    const views = new Map(tensorLayout(shape).map((slot) => [slot.name, values.subarray(slot.offset, slot.offset + slot.length)]))
    const view = (name: string) => views.get(name)!
    return {
        tokenEmbedding: view("token_embd.weight"),
        blocks: Array.from({length: shape.blockCount}, (_, block) => ({
            attentionNorm: view(`blk.${block}.attn_norm.weight`),
            query: view(`blk.${block}.attn_q.weight`),
            key: view(`blk.${block}.attn_k.weight`),
            value: view(`blk.${block}.attn_v.weight`),
            attentionOutput: view(`blk.${block}.attn_output.weight`),
            feedForwardNorm: view(`blk.${block}.ffn_norm.weight`),
            gate: view(`blk.${block}.ffn_gate.weight`),
            up: view(`blk.${block}.ffn_up.weight`),
            down: view(`blk.${block}.ffn_down.weight`)
        })),
        outputNorm: view("output_norm.weight"),
        output: view("output.weight")
    }
}

/**
 * Seeded starting weights: norm gains 1, matrices normal with std 1/sqrt(fan_in), and the two
 * projections that write into the residual stream (attention output, FFN down) scaled down by
 * sqrt(2 * blocks) so the stream's scale does not grow with depth (GPT-2's initialisation).
 */
export function initialWeights(shape: ModelShape, seed: number): Float32Array {
    const values = new Float32Array(parameterCount(shape))
    const residualScale = 1 / Math.sqrt(2 * shape.blockCount)
    for (const slot of tensorLayout(shape)) {
        const view = values.subarray(slot.offset, slot.offset + slot.length)
        if (slot.dims.length === 1) {
            view.fill(1)
            continue
        }
        const fanIn = slot.dims[0]!
        const writesResidual = slot.name.endsWith("attn_output.weight") || slot.name.endsWith("ffn_down.weight")
        // Embeddings feed a norm, which removes their scale; small ones keep the first steps gentle.
        const std = slot.name === "token_embd.weight" ? 0.1 : (writesResidual ? residualScale : 1) / Math.sqrt(fanIn)
        new Prng(seed, slot.name).fillNormal(view, std)
    }
    return values
}

/** The trainer computes multi-head attention with its own key and value heads only. */
function assertTrainable(shape: ModelShape): void {
    if (shape.headCountKv !== shape.headCount)
        throw new RangeError(`grouped-query attention is not supported (${shape.headCountKv} of ${shape.headCount} KV heads)`)
    if (shape.embeddingLength % shape.headCount !== 0 || (shape.embeddingLength / shape.headCount) % 2 !== 0)
        throw new RangeError(`embedding length ${shape.embeddingLength} must split into ${shape.headCount} heads of even size`)
}
