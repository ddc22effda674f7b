import type {WeightType} from "./encodings.ts"

export type PresetName = "tiny" | "small" | "125m"

/** The hyperparameters of a generated llama model. */
export interface ModelShape {
    readonly vocabularySize: number
    readonly embeddingLength: number
    readonly blockCount: number
    readonly feedForwardLength: number
    readonly headCount: number
    readonly headCountKv: number
    readonly contextLength: number
}

export interface Preset {
    readonly shape: ModelShape
    /** Precision used when the caller names none. */
    readonly defaultType: WeightType
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
    // Under 1 MB even in f32: fast enough to load in every unit test.
    tiny: {
        shape: {
            vocabularySize: 1024,
            embeddingLength: 64,
            blockCount: 2,
            feedForwardLength: 128,
            headCount: 4,
            headCountKv: 4,
            contextLength: 512
        },
        defaultType: "f32"
    },
    small: {
        shape: {
            vocabularySize: 4096,
            embeddingLength: 128,
            blockCount: 4,
            feedForwardLength: 384,
            headCount: 4,
            headCountKv: 2,
            contextLength: 1024
        },
        defaultType: "f16"
    },
    // GPT-2-small scale with a llama vocabulary: ~127M parameters, so benchmarks do real work.
    // ffn 1792 rather than 2048 keeps the count near 125M with untied input/output embeddings.
    "125m": {
        shape: {
            vocabularySize: 32000,
            embeddingLength: 768,
            blockCount: 12,
            feedForwardLength: 1792,
            headCount: 12,
            headCountKv: 12,
            contextLength: 2048
        },
        defaultType: "q8_0"
    }
}

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[]
