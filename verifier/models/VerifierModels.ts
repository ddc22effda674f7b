import type {Receipt} from "../../sdk/receipt/index.ts"
import type {VerifierModel} from "../types.ts"
import {verifierModelOptions, type VerifierModelOptions} from "../verifierModelOptions.ts"

/** Hands the verifier a loaded model for a receipt. */
export interface VerifierModelSource {
    /**
     * The model file `model` (the task's, verified against its SHA-256), loaded so that it re-scores
     * `receipt` with the receipt's own batch size and a context that holds its tokens. A null receipt
     * (the stored bytes were not one) gets the model as it loads by default: it is judged without a
     * re-score.
     */
    modelFor(model: {path: string; sha256: string}, receipt: Receipt | null): Promise<VerifierModel>
}

/** A model the source loaded itself and must dispose. */
export interface DisposableVerifierModel extends VerifierModel {
    dispose(): Promise<void>
}

export interface VerifierModelsOptions {
    /** Loads a model file; the CLI and the worker pass `InferenceEngine.loadModel`. */
    load(path: string, options: VerifierModelOptions | {sequences: 1}): Promise<DisposableVerifierModel>
    /**
     * Models already loaded elsewhere, by SHA-256 (a worker's served models): used when their batch
     * size is the receipt's and their context holds it, so a referee re-scores without a second copy.
     */
    loaded?: (sha256: string) => VerifierModel | undefined
    /** Models kept loaded between verifications, least recently used dropped first. Defaults to `2`. */
    keep?: number
}

/**
 * Loads, caches and disposes the models verifications need. Meant for one verification at a time:
 * a model dropped from the cache is disposed at once.
 */
export class VerifierModels implements VerifierModelSource {
    readonly #options: VerifierModelsOptions
    readonly #cache = new Map<string, Promise<DisposableVerifierModel>>()

    public constructor(options: VerifierModelsOptions) {
        this.#options = options
    }

    public async modelFor(model: {path: string; sha256: string}, receipt: Receipt | null): Promise<VerifierModel> {
        const options = receipt == null ? {sequences: 1 as const} : verifierModelOptions(receipt)
        const elsewhere = this.#options.loaded?.(model.sha256)
        if (
            elsewhere != null &&
            receipt != null &&
            "batchSize" in options &&
            elsewhere.engine.batchSize === options.batchSize &&
            elsewhere.contextSize >= receipt.inputTokens.length + receipt.outputTokens.length
        )
            return elsewhere

        const key = "batchSize" in options ? `${model.sha256}:${options.batchSize}:${options.contextSize}` : `${model.sha256}:default`
        let loading = this.#cache.get(key)
        if (loading != null) this.#cache.delete(key)
        else loading = this.#options.load(model.path, options)
        this.#cache.set(key, loading)
        try {
            const loaded = await loading
            await this.#trim()
            return loaded
        } catch (error) {
            this.#cache.delete(key)
            throw error
        }
    }

    public async dispose(): Promise<void> {
        const loaded = [...this.#cache.values()]
        this.#cache.clear()
        for (const model of await Promise.allSettled(loaded)) if (model.status === "fulfilled") await model.value.dispose()
    }

    async #trim() {
        const keep = this.#options.keep ?? 2
        while (this.#cache.size > keep) {
            const [oldest, loading] = this.#cache.entries().next().value!
            this.#cache.delete(oldest)
            await (await loading).dispose()
        }
    }
}
