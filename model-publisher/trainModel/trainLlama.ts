import type {ModelShape} from "../testModel/presets.ts"
import {Adam} from "./Adam.ts"
import {LlamaPass} from "./LlamaPass.ts"
import {initialWeights, parameterCount} from "./llamaWeights.ts"

export interface TrainLlamaOptions {
    shape: ModelShape
    /** Seeds the initial weights. */
    seed: number
    /** Optimizer steps. */
    steps: number
    /**
     * The sequences of step `step`: each is `sequenceLength + 1` tokens long, its first `sequenceLength`
     * the input and its last `sequenceLength` the targets.
     */
    batch: (step: number) => readonly (readonly number[])[]
    /** Tokens per input sequence; at most the shape's context length. */
    sequenceLength: number
    /** Peak learning rate, reached after the warm-up and then decayed along a cosine to a tenth of it. */
    learningRate: number
    /** Steps of linear warm-up from zero. Defaults to 5% of `steps`. */
    warmupSteps?: number
    /** Global gradient norm above which a step's gradient is scaled down to it. Defaults to 1. */
    clipNorm?: number
    /** Called after every step with the batch's mean loss in nats per token. Defaults to none. */
    onStep?: (progress: TrainingStep) => void
}

export interface TrainingStep {
    readonly step: number
    readonly loss: number
    readonly learningRate: number
}

export interface TrainedLlama {
    readonly weights: Float32Array
    /** Mean loss per token of every step's batch, in nats. */
    readonly losses: readonly number[]
}

/** Trains a llama model from seeded weights with Adam on next-token cross-entropy. */
export function trainLlama(options: TrainLlamaOptions): TrainedLlama {
    const {shape, steps, sequenceLength, learningRate} = options
    const warmupSteps = options.warmupSteps ?? Math.ceil(steps * 0.05)
    const clipNorm = options.clipNorm ?? 1
    const weights = initialWeights(shape, options.seed)
    const gradient = new Float32Array(parameterCount(shape))
    const pass = new LlamaPass(shape, weights, sequenceLength)
    const adam = new Adam(weights.length)
    const losses: number[] = []
    for (let step = 0; step < steps; step++) {
        const sequences = options.batch(step)
        const scale = 1 / (sequences.length * sequenceLength)
        gradient.fill(0)
        let loss = 0
        for (const sequence of sequences) {
            if (sequence.length !== sequenceLength + 1)
                throw new RangeError(`a sequence of ${sequence.length} tokens, ${sequenceLength + 1} expected`)
            pass.forward(sequence.slice(0, -1))
            loss += pass.backward(sequence.slice(1), gradient, scale)
        }
        let squares = 0
        for (let i = 0; i < gradient.length; i++) squares += gradient[i]! * gradient[i]!
        const norm = Math.sqrt(squares)
        if (norm > clipNorm) for (let i = 0; i < gradient.length; i++) gradient[i]! *= clipNorm / norm
        const rate = scheduledRate(step, steps, warmupSteps, learningRate)
        adam.step(weights, gradient, rate)
        losses.push(loss * scale)
        options.onStep?.({step, loss: loss * scale, learningRate: rate})
    }
    return {weights, losses}
}

function scheduledRate(step: number, steps: number, warmupSteps: number, peak: number): number {
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps
    const progress = (step - warmupSteps) / Math.max(1, steps - warmupSteps)
    return peak * (0.1 + 0.45 * (1 + Math.cos(Math.PI * progress)))
}
