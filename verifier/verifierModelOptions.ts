import type {Receipt} from "../sdk/receipt/index.ts"

/** How to load the claimed model for re-checking a receipt: `LoadedModelOptions` for `InferenceEngine.loadModel`. */
export interface VerifierModelOptions {
    contextSize: number
    batchSize: number
    sequences: 1
}

/**
 * The worker's batch size, so the prompt is decoded in the same batch shapes (on the CPU that makes
 * q8_0 re-score bit for bit, and `thresholdsFor` picks the tight `matched` profile), and a context
 * that holds the receipt's tokens even if it claims a smaller one.
 */
export function verifierModelOptions(receipt: Pick<Receipt, "engine" | "inputTokens" | "outputTokens">): VerifierModelOptions {
    const needed = receipt.inputTokens.length + receipt.outputTokens.length
    const contextSize = Math.max(receipt.engine.contextSize, needed)
    return {contextSize, batchSize: Math.min(receipt.engine.batchSize, contextSize), sequences: 1}
}
