import {float32ToFloat16Bits} from "../testModel/f16.ts"
import type {ModelShape} from "../testModel/presets.ts"
import {weightViews, type LlamaWeights} from "./llamaWeights.ts"

/** llama.cpp's `llama.attention.layer_norm_rms_epsilon` as the GGUF records it. */
export const RMS_EPSILON = 1e-5
/** `llama.rope.freq_base`. */
export const ROPE_FREQ_BASE = 10_000

export interface LlamaPassOptions {
    /**
     * Computes attention the way llama.cpp's CPU flash attention does for batches of under 64 tokens
     * (`ggml_compute_forward_flash_attn_ext_f16_one_chunk`): keys and values read from an f16 KV cache, the
     * query rounded to f16, and the softmax-weighted sum of values accumulated in f16 with an online softmax.
     * For comparing logits with llama.cpp's to its last digits; such a pass has no backward(). Defaults to
     * false: everything in f32, as trained.
     */
    f16Attention?: boolean
}

interface BlockActivations {
    readonly input: Float32Array
    readonly attentionRms: Float32Array
    readonly attentionNormed: Float32Array
    /** Queries and keys after RoPE. */
    readonly query: Float32Array
    readonly key: Float32Array
    readonly value: Float32Array
    /** Softmax weights per head, [head][query][key], the upper triangle unused. */
    readonly probabilities: Float32Array
    readonly mixed: Float32Array
    readonly middle: Float32Array
    readonly feedForwardRms: Float32Array
    readonly feedForwardNormed: Float32Array
    readonly gate: Float32Array
    readonly up: Float32Array
    readonly hidden: Float32Array
}

/**
 * One sequence through a llama model, the way llama.cpp's `llama` architecture computes it: token
 * embedding; per block RMSNorm, causal multi-head attention with RoPE in llama.cpp's "normal" style
 * (rotating the pairs (2i, 2i+1) of each head), residual, RMSNorm, SwiGLU feed-forward, residual; a final
 * RMSNorm and the output projection. Keeps every activation of the last `forward` so `backward` can
 * follow it; buffers are allocated once for `maxLength` tokens and reused.
 *
 * Weights are read at every call, so an optimizer may update them in place between passes.
 */
export class LlamaPass {
    readonly #shape: ModelShape
    readonly #weights: LlamaWeights
    readonly #maxLength: number
    readonly #headSize: number
    readonly #cos: Float32Array
    readonly #sin: Float32Array
    readonly #blocks: BlockActivations[]
    readonly #output: Float32Array
    readonly #outputRms: Float32Array
    readonly #outputNormed: Float32Array
    readonly #logits: Float32Array
    // Gradient scratch, reused by every block.
    readonly #dResidual: Float32Array
    readonly #dNormed: Float32Array
    readonly #dMixed: Float32Array
    readonly #dQuery: Float32Array
    readonly #dKey: Float32Array
    readonly #dValue: Float32Array
    readonly #dHidden: Float32Array
    readonly #dGate: Float32Array
    readonly #dUp: Float32Array
    readonly #dScores: Float32Array
    readonly #f16Attention: boolean
    #tokens: readonly number[] = []
    /** Whether the logits buffer holds the last forward's logits; backward() turns it into their gradient. */
    #haveLogits = false

    public constructor(shape: ModelShape, weights: Float32Array, maxLength: number, {f16Attention = false}: LlamaPassOptions = {}) {
        if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > shape.contextLength)
            throw new RangeError(`maxLength must be an integer in [1, ${shape.contextLength}], got ${maxLength}`)
        this.#shape = shape
        this.#weights = weightViews(shape, weights)
        this.#maxLength = maxLength
        this.#headSize = shape.embeddingLength / shape.headCount
        ;[this.#cos, this.#sin] = ropeTables(maxLength, this.#headSize)
        const {embeddingLength: dim, feedForwardLength: ffn, headCount} = shape
        const floats = (count: number) => new Float32Array(count * maxLength)
        this.#blocks = Array.from({length: shape.blockCount}, () => ({
            input: floats(dim),
            attentionRms: floats(1),
            attentionNormed: floats(dim),
            query: floats(dim),
            key: floats(dim),
            value: floats(dim),
            probabilities: floats(headCount * maxLength),
            mixed: floats(dim),
            middle: floats(dim),
            feedForwardRms: floats(1),
            feedForwardNormed: floats(dim),
            gate: floats(ffn),
            up: floats(ffn),
            hidden: floats(ffn)
        }))
        this.#output = floats(dim)
        this.#outputRms = floats(1)
        this.#outputNormed = floats(dim)
        this.#logits = floats(shape.vocabularySize)
        this.#dResidual = floats(dim)
        this.#dNormed = floats(dim)
        this.#dMixed = floats(dim)
        this.#dQuery = floats(dim)
        this.#dKey = floats(dim)
        this.#dValue = floats(dim)
        this.#dHidden = floats(ffn)
        this.#dGate = floats(ffn)
        this.#dUp = floats(ffn)
        this.#dScores = new Float32Array(maxLength)
        this.#f16Attention = f16Attention
    }

    /**
     * The logits after each of `tokens` (positions 0, 1, ...), [position][vocabulary]. The array is this
     * pass's buffer: the next call overwrites it.
     */
    public forward(tokens: readonly number[]): Float32Array {
        const length = tokens.length
        if (length < 1 || length > this.#maxLength) throw new RangeError(`${length} tokens for a pass of at most ${this.#maxLength}`)
        const {embeddingLength: dim, feedForwardLength: ffn, vocabularySize: vocab} = this.#shape
        const weights = this.#weights
        for (const [position, token] of tokens.entries()) {
            if (!Number.isInteger(token) || token < 0 || token >= vocab)
                throw new RangeError(`token ${token} is outside the vocabulary of ${vocab}`)
            this.#blocks[0]!.input.set(weights.tokenEmbedding.subarray(token * dim, (token + 1) * dim), position * dim)
        }
        this.#tokens = tokens
        for (const [index, block] of this.#blocks.entries()) {
            const w = weights.blocks[index]!
            rmsNorm(block.attentionNormed, block.attentionRms, block.input, w.attentionNorm, length, dim)
            matmul(block.query, block.attentionNormed, w.query, length, dim, dim)
            matmul(block.key, block.attentionNormed, w.key, length, dim, dim)
            matmul(block.value, block.attentionNormed, w.value, length, dim, dim)
            this.#rope(block.query, length, 1)
            this.#rope(block.key, length, 1)
            if (this.#f16Attention) this.#attendInF16(block, length)
            else this.#attend(block, length)
            const next = this.#blocks[index + 1]?.input ?? this.#output
            matmul(block.middle, block.mixed, w.attentionOutput, length, dim, dim)
            for (let i = 0; i < length * dim; i++) block.middle[i]! += block.input[i]!
            rmsNorm(block.feedForwardNormed, block.feedForwardRms, block.middle, w.feedForwardNorm, length, dim)
            matmul(block.gate, block.feedForwardNormed, w.gate, length, dim, ffn)
            matmul(block.up, block.feedForwardNormed, w.up, length, dim, ffn)
            for (let i = 0; i < length * ffn; i++) block.hidden[i] = silu(block.gate[i]!) * block.up[i]!
            matmul(next, block.hidden, w.down, length, ffn, dim)
            for (let i = 0; i < length * dim; i++) next[i]! += block.middle[i]!
        }
        rmsNorm(this.#outputNormed, this.#outputRms, this.#output, weights.outputNorm, length, dim)
        matmul(this.#logits, this.#outputNormed, weights.output, length, dim, vocab)
        this.#haveLogits = true
        return this.#logits.subarray(0, length * vocab)
    }

    /** Cross-entropy of `targets`, the token expected after each position of the last `forward`, summed in nats. */
    public loss(targets: readonly number[]): number {
        if (!this.#haveLogits) throw new Error("loss() and backward() need a forward() first, and backward() uses it up")
        const length = this.#tokens.length
        const vocab = this.#shape.vocabularySize
        if (targets.length !== length) throw new RangeError(`${targets.length} targets for ${length} positions`)
        let loss = 0
        for (const [position, target] of targets.entries()) {
            if (!Number.isInteger(target) || target < 0 || target >= vocab)
                throw new RangeError(`target ${target} is outside the vocabulary of ${vocab}`)
            loss += logSumExp(this.#logits, position * vocab, vocab) - this.#logits[position * vocab + target]!
        }
        return loss
    }

    /**
     * Cross-entropy of `targets` (the token expected after each position of the last `forward`) and its
     * gradient: adds `scale` times the gradient of the summed loss to `gradient`, a flat array laid out
     * like the weights. Returns the summed loss in nats.
     */
    public backward(targets: readonly number[], gradient: Float32Array, scale: number): number {
        if (this.#f16Attention) throw new Error("a pass with f16 attention has no backward")
        const length = this.#tokens.length
        const {embeddingLength: dim, feedForwardLength: ffn, vocabularySize: vocab} = this.#shape
        const weights = this.#weights
        const grads = weightViews(this.#shape, gradient)

        // The logits become their own gradient: softmax minus the target's one-hot.
        const loss = this.loss(targets)
        this.#haveLogits = false
        const dLogits = this.#logits
        for (let position = 0; position < length; position++) {
            const row = position * vocab
            const logSum = logSumExp(dLogits, row, vocab)
            for (let v = 0; v < vocab; v++) dLogits[row + v] = Math.exp(dLogits[row + v]! - logSum) * scale
            dLogits[row + targets[position]!]! -= scale
        }
        const dResidual = this.#dResidual
        const dNormed = this.#dNormed
        matmulBackward(dNormed, grads.output, dLogits, this.#outputNormed, weights.output, length, dim, vocab)
        dResidual.fill(0, 0, length * dim)
        rmsNormBackward(dResidual, grads.outputNorm, dNormed, this.#output, this.#outputRms, weights.outputNorm, length, dim)

        for (let index = this.#blocks.length - 1; index >= 0; index--) {
            const block = this.#blocks[index]!
            const w = weights.blocks[index]!
            const g = grads.blocks[index]!
            // dResidual holds the gradient of the block's output; the residual path passes it through unchanged.
            matmulBackward(this.#dHidden, g.down, dResidual, block.hidden, w.down, length, ffn, dim)
            for (let i = 0; i < length * ffn; i++) {
                const gate = block.gate[i]!
                const sigmoid = 1 / (1 + Math.exp(-gate))
                this.#dUp[i] = this.#dHidden[i]! * gate * sigmoid
                this.#dGate[i] = this.#dHidden[i]! * block.up[i]! * sigmoid * (1 + gate * (1 - sigmoid))
            }
            matmulBackward(dNormed, g.gate, this.#dGate, block.feedForwardNormed, w.gate, length, dim, ffn)
            matmulBackward(dNormed, g.up, this.#dUp, block.feedForwardNormed, w.up, length, dim, ffn, true)
            rmsNormBackward(dResidual, g.feedForwardNorm, dNormed, block.middle, block.feedForwardRms, w.feedForwardNorm, length, dim)

            matmulBackward(this.#dMixed, g.attentionOutput, dResidual, block.mixed, w.attentionOutput, length, dim, dim)
            this.#attendBackward(block, length)
            this.#rope(this.#dQuery, length, -1)
            this.#rope(this.#dKey, length, -1)
            matmulBackward(dNormed, g.query, this.#dQuery, block.attentionNormed, w.query, length, dim, dim)
            matmulBackward(dNormed, g.key, this.#dKey, block.attentionNormed, w.key, length, dim, dim, true)
            matmulBackward(dNormed, g.value, this.#dValue, block.attentionNormed, w.value, length, dim, dim, true)
            rmsNormBackward(dResidual, g.attentionNorm, dNormed, block.input, block.attentionRms, w.attentionNorm, length, dim)
        }
        for (const [position, token] of this.#tokens.entries()) {
            const row = grads.tokenEmbedding.subarray(token * dim, (token + 1) * dim)
            for (let i = 0; i < dim; i++) row[i]! += dResidual[position * dim + i]!
        }
        return loss
    }

    /** Rotates each head's pairs (2i, 2i+1) by position × theta_i; `direction` -1 applies the inverse rotation. */
    #rope(values: Float32Array, length: number, direction: 1 | -1): void {
        const half = this.#headSize / 2
        for (let position = 0; position < length; position++) {
            const table = position * half
            for (let head = 0; head < this.#shape.headCount; head++) {
                const base = position * this.#shape.embeddingLength + head * this.#headSize
                for (let i = 0; i < half; i++) {
                    const cos = this.#cos[table + i]!
                    const sin = this.#sin[table + i]! * direction
                    const x0 = values[base + 2 * i]!
                    const x1 = values[base + 2 * i + 1]!
                    values[base + 2 * i] = x0 * cos - x1 * sin
                    values[base + 2 * i + 1] = x0 * sin + x1 * cos
                }
            }
        }
    }

    #attend(block: BlockActivations, length: number): void {
        const {embeddingLength: dim, headCount} = this.#shape
        const size = this.#headSize
        const scale = 1 / Math.sqrt(size)
        const {query, key, value, probabilities, mixed} = block
        mixed.fill(0, 0, length * dim)
        for (let head = 0; head < headCount; head++) {
            const offset = head * size
            for (let t = 0; t < length; t++) {
                const row = (head * this.#maxLength + t) * this.#maxLength
                const q = t * dim + offset
                let max = -Infinity
                for (let s = 0; s <= t; s++) {
                    const k = s * dim + offset
                    let dot = 0
                    for (let i = 0; i < size; i++) dot += query[q + i]! * key[k + i]!
                    probabilities[row + s] = dot * scale
                    max = Math.max(max, probabilities[row + s]!)
                }
                let sum = 0
                for (let s = 0; s <= t; s++) {
                    const e = Math.exp(probabilities[row + s]! - max)
                    probabilities[row + s] = e
                    sum += e
                }
                for (let s = 0; s <= t; s++) {
                    const p = probabilities[row + s]! / sum
                    probabilities[row + s] = p
                    const v = s * dim + offset
                    for (let i = 0; i < size; i++) mixed[q + i]! += p * value[v + i]!
                }
            }
        }
    }

    /** #attend as llama.cpp's CPU flash attention computes it: see `LlamaPassOptions.f16Attention`. */
    #attendInF16(block: BlockActivations, length: number): void {
        const {embeddingLength: dim, headCount} = this.#shape
        const size = this.#headSize
        const scale = Math.fround(1 / Math.sqrt(size))
        const {query, key, value, mixed} = block
        // The cache holds keys and values in f16 from the moment they are computed.
        for (let i = 0; i < length * dim; i++) {
            key[i] = roundToF16(key[i]!)
            value[i] = roundToF16(value[i]!)
        }
        const sum = new Float32Array(size)
        for (let head = 0; head < headCount; head++) {
            const offset = head * size
            for (let t = 0; t < length; t++) {
                const q = t * dim + offset
                for (let i = 0; i < size; i++) query[q + i] = roundToF16(query[q + i]!)
                sum.fill(0)
                let max = -Infinity
                let total = 0
                for (let s = 0; s <= t; s++) {
                    const k = s * dim + offset
                    let dot = 0
                    for (let i = 0; i < size; i++) dot += query[q + i]! * key[k + i]!
                    const score = Math.fround(Math.fround(dot) * scale)
                    let rescale = 1
                    let weight = 1
                    if (score > max) {
                        rescale = Math.fround(Math.exp(max - score))
                        max = score
                        for (let i = 0; i < size; i++) sum[i] = roundToF16(sum[i]! * rescale)
                    } else {
                        weight = Math.fround(Math.exp(score - max))
                    }
                    const v = s * dim + offset
                    for (let i = 0; i < size; i++) sum[i] = roundToF16(sum[i]! + value[v + i]! * weight)
                    total = Math.fround(total * rescale + weight)
                }
                for (let i = 0; i < size; i++) mixed[q + i] = sum[i]! / total
            }
        }
    }

    /** From the gradient of the heads' outputs in #dMixed to those of the rotated queries, keys and values. */
    #attendBackward(block: BlockActivations, length: number): void {
        const {embeddingLength: dim, headCount} = this.#shape
        const size = this.#headSize
        const scale = 1 / Math.sqrt(size)
        const {query, key, value, probabilities} = block
        const dMixed = this.#dMixed
        const dQuery = this.#dQuery
        const dKey = this.#dKey
        const dValue = this.#dValue
        const dScores = this.#dScores
        dQuery.fill(0, 0, length * dim)
        dKey.fill(0, 0, length * dim)
        dValue.fill(0, 0, length * dim)
        for (let head = 0; head < headCount; head++) {
            const offset = head * size
            for (let t = 0; t < length; t++) {
                const row = (head * this.#maxLength + t) * this.#maxLength
                const q = t * dim + offset
                let weighted = 0
                for (let s = 0; s <= t; s++) {
                    const v = s * dim + offset
                    const p = probabilities[row + s]!
                    let dot = 0
                    for (let i = 0; i < size; i++) {
                        dot += dMixed[q + i]! * value[v + i]!
                        dValue[v + i]! += p * dMixed[q + i]!
                    }
                    dScores[s] = dot
                    weighted += p * dot
                }
                for (let s = 0; s <= t; s++) {
                    const dScore = probabilities[row + s]! * (dScores[s]! - weighted) * scale
                    const k = s * dim + offset
                    for (let i = 0; i < size; i++) {
                        dQuery[q + i]! += dScore * key[k + i]!
                        dKey[k + i]! += dScore * query[q + i]!
                    }
                }
            }
        }
    }
}

/**
 * cos and sin of position × theta_i, [position][pair], with theta_i computed as ggml does: theta_scale =
 * base^(-2/headSize) in float32, multiplied in step by step, so the angles match llama.cpp's to the bit.
 */
function ropeTables(length: number, headSize: number): [Float32Array, Float32Array] {
    const half = headSize / 2
    const cos = new Float32Array(length * half)
    const sin = new Float32Array(length * half)
    const thetaScale = Math.fround(ROPE_FREQ_BASE ** (-2 / headSize))
    for (let position = 0; position < length; position++) {
        let theta = Math.fround(position)
        for (let i = 0; i < half; i++) {
            cos[position * half + i] = Math.cos(theta)
            sin[position * half + i] = Math.sin(theta)
            theta = Math.fround(theta * thetaScale)
        }
    }
    return [cos, sin]
}

const F16_VALUES = (() => {
    const values = new Float32Array(1 << 16)
    for (let bits = 0; bits < values.length; bits++) {
        const sign = bits & 0x8000 ? -1 : 1
        const exponent = (bits >> 10) & 0x1f
        const mantissa = bits & 0x3ff
        values[bits] =
            exponent === 0x1f
                ? mantissa === 0
                    ? sign * Infinity
                    : NaN
                : exponent === 0
                  ? sign * mantissa * 2 ** -24
                  : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
    }
    return values
})()

/** The f16 value nearest to `value`, as ggml's FP32_TO_FP16 rounds it. */
function roundToF16(value: number): number {
    return F16_VALUES[float32ToFloat16Bits(value)]!
}

/** log Σ exp(values[offset + v]) over v < count, shifted by the maximum so no exp overflows. */
function logSumExp(values: Float32Array, offset: number, count: number): number {
    let max = -Infinity
    for (let v = 0; v < count; v++) max = Math.max(max, values[offset + v]!)
    let sum = 0
    for (let v = 0; v < count; v++) sum += Math.exp(values[offset + v]! - max)
    return max + Math.log(sum)
}

function silu(x: number): number {
    return x / (1 + Math.exp(-x))
}

/** out[t] = x[t] · r[t] · gain, with r[t] = 1 / sqrt(mean(x[t]²) + eps) kept for the backward pass. */
function rmsNorm(out: Float32Array, rms: Float32Array, x: Float32Array, gain: Float32Array, rows: number, size: number): void {
    for (let t = 0; t < rows; t++) {
        const base = t * size
        let squares = 0
        for (let i = 0; i < size; i++) squares += x[base + i]! * x[base + i]!
        const r = 1 / Math.sqrt(squares / size + RMS_EPSILON)
        rms[t] = r
        for (let i = 0; i < size; i++) out[base + i] = x[base + i]! * r * gain[i]!
    }
}

/** Adds the gradient through rmsNorm to dx (the residual stream's gradient) and to dGain. */
function rmsNormBackward(
    dx: Float32Array,
    dGain: Float32Array,
    dOut: Float32Array,
    x: Float32Array,
    rms: Float32Array,
    gain: Float32Array,
    rows: number,
    size: number
): void {
    for (let t = 0; t < rows; t++) {
        const base = t * size
        const r = rms[t]!
        let projection = 0
        for (let i = 0; i < size; i++) {
            projection += dOut[base + i]! * gain[i]! * x[base + i]!
            dGain[i]! += dOut[base + i]! * x[base + i]! * r
        }
        const correction = (projection * r * r * r) / size
        for (let i = 0; i < size; i++) dx[base + i]! += dOut[base + i]! * gain[i]! * r - x[base + i]! * correction
    }
}

/**
 * out[t][o] = Σ_i x[t][i] · w[o][i]: x is rows × n, w is m × n (ggml's [n, m]), out rows × m. Four rows of
 * x at a time, so each loaded weight serves four sums (twice the speed of one row at a time in V8).
 */
function matmul(out: Float32Array, x: Float32Array, w: Float32Array, rows: number, n: number, m: number): void {
    let t = 0
    for (; t + 4 <= rows; t += 4) {
        const x0 = t * n
        const x1 = x0 + n
        const x2 = x1 + n
        const x3 = x2 + n
        for (let o = 0; o < m; o++) {
            const wBase = o * n
            let s0 = 0
            let s1 = 0
            let s2 = 0
            let s3 = 0
            for (let i = 0; i < n; i++) {
                const weight = w[wBase + i]!
                s0 += x[x0 + i]! * weight
                s1 += x[x1 + i]! * weight
                s2 += x[x2 + i]! * weight
                s3 += x[x3 + i]! * weight
            }
            out[t * m + o] = s0
            out[(t + 1) * m + o] = s1
            out[(t + 2) * m + o] = s2
            out[(t + 3) * m + o] = s3
        }
    }
    for (; t < rows; t++) {
        const xBase = t * n
        for (let o = 0; o < m; o++) {
            const wBase = o * n
            let sum = 0
            for (let i = 0; i < n; i++) sum += x[xBase + i]! * w[wBase + i]!
            out[t * m + o] = sum
        }
    }
}

/**
 * The backward of matmul: dx = dOut · w (added to dx when `accumulate`), dw += dOutᵀ · x. Both walk four
 * rows of the other operand per pass over a contiguous row, for the reason matmul does.
 */
function matmulBackward(
    dx: Float32Array,
    dw: Float32Array,
    dOut: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rows: number,
    n: number,
    m: number,
    accumulate = false
): void {
    if (!accumulate) dx.fill(0, 0, rows * n)
    for (let t = 0; t < rows; t++) {
        const xBase = t * n
        const outBase = t * m
        let o = 0
        for (; o + 4 <= m; o += 4) {
            const g0 = dOut[outBase + o]!
            const g1 = dOut[outBase + o + 1]!
            const g2 = dOut[outBase + o + 2]!
            const g3 = dOut[outBase + o + 3]!
            const w0 = o * n
            const w1 = w0 + n
            const w2 = w1 + n
            const w3 = w2 + n
            for (let i = 0; i < n; i++) dx[xBase + i]! += g0 * w[w0 + i]! + g1 * w[w1 + i]! + g2 * w[w2 + i]! + g3 * w[w3 + i]!
        }
        for (; o < m; o++) {
            const g = dOut[outBase + o]!
            const wBase = o * n
            for (let i = 0; i < n; i++) dx[xBase + i]! += g * w[wBase + i]!
        }
    }
    for (let o = 0; o < m; o++) {
        const wBase = o * n
        let t = 0
        for (; t + 4 <= rows; t += 4) {
            const g0 = dOut[t * m + o]!
            const g1 = dOut[(t + 1) * m + o]!
            const g2 = dOut[(t + 2) * m + o]!
            const g3 = dOut[(t + 3) * m + o]!
            const x0 = t * n
            const x1 = x0 + n
            const x2 = x1 + n
            const x3 = x2 + n
            for (let i = 0; i < n; i++) dw[wBase + i]! += g0 * x[x0 + i]! + g1 * x[x1 + i]! + g2 * x[x2 + i]! + g3 * x[x3 + i]!
        }
        for (; t < rows; t++) {
            const g = dOut[t * m + o]!
            const xBase = t * n
            for (let i = 0; i < n; i++) dw[wBase + i]! += g * x[xBase + i]!
        }
    }
}
