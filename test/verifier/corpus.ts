import {createHash} from "node:crypto"
import {join} from "node:path"
import {fileURLToPath} from "node:url"
import type {Token} from "node-llama-cpp"
import {convertModel, sha256File, writeTestModel, type PresetName, type WeightType} from "../../model-publisher/index.ts"
import {encodeReceipt, hashPrompt, type Receipt, type Sampling, type TokenRecord} from "../../sdk/receipt/index.ts"
import {verifierModelOptions, type ExpectedTask} from "../../verifier/index.ts"
import type {Generation, InferenceEngine, LoadedModel, LoadedModelOptions} from "../../worker/engine/index.ts"

/**
 * A generated corpus of receipts for the verifier: honest ones made by the real engine under many
 * settings, and dishonest ones made by tampering with real generations the way a cheating worker
 * would, each kept internally consistent (records re-scored with the cheater's own model, output
 * re-detokenized, counts and Receipt-Hash recomputed) so that only the verifier's own checks can
 * catch it.
 */

export interface ModelFile {
    name: string
    /** A generated preset, or the trained fixture (test/fixtures/models/trained-stories.gguf). */
    preset: PresetName | "trained"
    type: WeightType
    seed: number
    path: string
    /** A made-up Model-Id, stable per file. */
    id: string
    sha256: string
}

export interface Task {
    taskId: string
    prompt: string
    format: "text" | "chat"
    sampling: Sampling
    model: ModelFile
}

export interface CorpusCase {
    kind: string
    description: string
    receipt: Receipt
    bytes: Buffer
    expected: ExpectedTask
    /** The model the verifier loads: the one the task names. */
    model: ModelFile
    /** Loading options for the verifier's model, when not the receipt's own (cross-kernel honest cases). */
    verifierOptions?: LoadedModelOptions
}

export const MODEL_SPECS = {
    tiny: {preset: "tiny", type: "f32", seed: 1},
    tinyF16: {preset: "tiny", type: "f16", seed: 1},
    tinyQ8: {preset: "tiny", type: "q8_0", seed: 1},
    tinyOther: {preset: "tiny", type: "f32", seed: 2},
    small: {preset: "small", type: "f16", seed: 1},
    smallQ8: {preset: "small", type: "q8_0", seed: 1}
} as const satisfies Record<string, Omit<ModelFile, "name" | "path" | "id" | "sha256">>
export type ModelName = keyof typeof MODEL_SPECS

export async function writeModels(dir: string): Promise<Record<ModelName, ModelFile>> {
    const files = {} as Record<ModelName, ModelFile>
    for (const [name, spec] of Object.entries(MODEL_SPECS) as [ModelName, (typeof MODEL_SPECS)[ModelName]][]) {
        const path = join(dir, `${name}.gguf`)
        await writeTestModel({...spec, path})
        const sha256 = await sha256File(path)
        files[name] = {name, ...spec, path, sha256, id: createHash("sha256").update(name).digest("base64url").slice(0, 43)}
    }
    return files
}

/** The trained fixture, as published and at every lower precision the converter writes. */
export const TRAINED_FIXTURE = fileURLToPath(new URL("../fixtures/models/trained-stories.gguf", import.meta.url))
export const TRAINED_TYPES = ["f32", "f16", "q8_0", "q4_0", "q4_K"] as const satisfies readonly WeightType[]
export type TrainedType = (typeof TRAINED_TYPES)[number]

export async function writeTrainedModels(dir: string): Promise<Record<TrainedType, ModelFile>> {
    const files = {} as Record<TrainedType, ModelFile>
    for (const type of TRAINED_TYPES) {
        const path = type === "f32" ? TRAINED_FIXTURE : join(dir, `trained-${type}.gguf`)
        if (type !== "f32") await convertModel({input: TRAINED_FIXTURE, output: path, type})
        const name = `trained-${type}`
        files[type] = {
            name,
            preset: "trained",
            type,
            seed: 1,
            path,
            sha256: await sha256File(path),
            id: createHash("sha256").update(name).digest("base64url").slice(0, 43)
        }
    }
    return files
}

const BITS: Readonly<Record<string, number>> = {f32: 32, f16: 16, q8_0: 8, q4_0: 4, q4_K: 4}
export const LOWER_PRECISION = "lower precision"
/** Finer weights than the task's model: the decode replay tells them apart from the claimed ones (docs/verification.md). */
export const HIGHER_PRECISION = "higher precision"
/** Weights served coarser than the task's model cheat its requester; finer ones misstate the work. */
export function precisionKind(served: string, claimed: string): string {
    return BITS[served]! < BITS[claimed]! || (BITS[served] === BITS[claimed] && served !== claimed) ? LOWER_PRECISION : HIGHER_PRECISION
}

/** Models loaded once per (file, settings) and reused: loading is the slow part of a small test. */
export class ModelPool {
    readonly #engine: InferenceEngine
    readonly #loaded = new Map<string, Promise<LoadedModel>>()

    public constructor(engine: InferenceEngine) {
        this.#engine = engine
    }

    public get(file: ModelFile, options: LoadedModelOptions): Promise<LoadedModel> {
        const key = `${file.path}|${options.contextSize}|${options.batchSize}|${options.threads}|${options.sequences ?? 1}`
        let model = this.#loaded.get(key)
        if (model == null) {
            model = this.#engine.loadModel(file.path, {sequences: 1, ...options})
            this.#loaded.set(key, model)
        }
        return model
    }

    /** The verifier's model for a case: the task's model, loaded as the receipt asks unless the case says otherwise. */
    public verifierFor(item: CorpusCase): Promise<LoadedModel> {
        return this.get(item.model, {...verifierModelOptions(item.receipt), ...item.verifierOptions})
    }
}

/** Deterministic choices (mulberry32). */
export class Choices {
    #state: number

    public constructor(seed: number) {
        this.#state = seed >>> 0
    }

    public next(): number {
        this.#state = (this.#state + 0x6d2b79f5) >>> 0
        let t = this.#state
        t = Math.imul(t ^ (t >>> 15), t | 1)
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }

    public int(below: number): number {
        return Math.floor(this.next() * below)
    }

    public pick<T>(items: readonly T[]): T {
        return items[this.int(items.length)]!
    }
}

/** What a generation contributes to a receipt (a real Generation, or a tampered copy). */
export type Work = Pick<Generation, "inputTokens" | "outputTokens" | "output" | "stopReason" | "tokens" | "engine">

/** The receipt a worker would store for `task` after doing `work`; `claims` overrides what it says about itself. */
export function receiptFor(task: Task, work: Work, claims: {model?: ModelFile; promptSha256?: string; sampling?: Sampling} = {}): Receipt {
    const model = claims.model ?? task.model
    return {
        version: 1,
        taskId: task.taskId,
        worker: "worker-address-0000000000000000000000000000",
        model: {id: model.id, sha256: model.sha256},
        prompt: {format: task.format, sha256: claims.promptSha256 ?? hashPrompt(task.prompt), messageId: task.taskId},
        sampling: claims.sampling ?? task.sampling,
        engine: work.engine,
        inputTokens: [...work.inputTokens],
        outputTokens: [...work.outputTokens],
        output: work.output,
        stopReason: work.stopReason,
        tokens: work.tokens,
        timings: {startedAt: 1_700_000_000_000, promptMs: 1, generationMs: 10},
        log: ["assigned (attempt 1)"]
    }
}

/** A case as the verifier meets it: the stored bytes, and the task record, Task-Result and upload tags that go with them. */
export function caseFor(
    kind: string,
    description: string,
    task: Task,
    receipt: Receipt,
    overrides: {bytes?: Buffer; receiptHash?: string; output?: string; verifierOptions?: LoadedModelOptions} = {}
): CorpusCase {
    const encoded = encodeReceipt(receipt)
    const bytes = overrides.bytes ?? encoded.bytes
    return {
        kind,
        description,
        receipt,
        bytes,
        model: task.model,
        ...(overrides.verifierOptions == null ? {} : {verifierOptions: overrides.verifierOptions}),
        expected: {
            taskId: task.taskId,
            modelId: task.model.id,
            modelSha256: task.model.sha256,
            prompt: task.prompt,
            format: task.format,
            sampling: task.sampling,
            inputTokenCount: receipt.inputTokens.length,
            outputTokenCount: receipt.outputTokens.length,
            receiptHash: overrides.receiptHash ?? encoded.hash,
            output: overrides.output ?? receipt.output
        }
    }
}

/**
 * A cheater's consistent version of altered output tokens: records from its own model's re-score
 * (the best a cheater can do: exact numbers for the tokens it claims), the matching text and stop
 * reason.
 */
export async function consistentWork(cheater: LoadedModel, base: Work, outputTokens: readonly number[]): Promise<Work> {
    const tokens: TokenRecord[] = await cheater.score({inputTokens: base.inputTokens, outputTokens})
    const last = outputTokens.at(-1)!
    const eos = cheater.isEogToken(last)
    return {
        ...base,
        outputTokens: [...outputTokens] as Token[],
        tokens,
        output: cheater.detokenize((eos ? outputTokens.slice(0, -1) : outputTokens) as Token[]),
        stopReason: eos ? "eos" : base.stopReason === "eos" ? "maxTokens" : base.stopReason
    }
}

const TOPICS = [
    "The river ran past the old mill",
    "Once upon a time the king",
    "A small boat drifted",
    "In the morning we walked",
    "The city was quiet when",
    "She opened the door and",
    "They built a house near the",
    "My father told me about the",
    "Under the bridge there was",
    "The children played in the",
    "We found a letter in the",
    "After the storm the village",
    "He wrote a book about",
    "The market was full of",
    "At night the forest",
    "Tell me about the sea"
]

/** Prompts of many lengths, a few past 64 tokens (where q8_0's batched kernels differ from single-token ones). */
export function textPrompts(): string[] {
    const long = (i: number) => Array.from({length: 6}, (_, j) => TOPICS[(i + j) % TOPICS.length]).join(" and ")
    return [...TOPICS, long(0), long(3), long(7), long(11)]
}

export function chatPrompts(): string[] {
    return [
        [{role: "user", content: "Tell me about the river"}],
        [
            {role: "system", content: "Be brief."},
            {role: "user", content: "What did the king say"}
        ],
        [
            {role: "user", content: "Write about the old mill"},
            {role: "assistant", content: "The old mill"}
        ],
        [
            {role: "system", content: "You write stories."},
            {role: "user", content: "A boat on the sea"}
        ]
    ].map((messages) => JSON.stringify(messages))
}

export const GREEDY: Sampling = {maxTokens: 32, temperature: "0", topK: 40, topP: "1", seed: 0}

/** Sampled settings covering top-k on and off, top-p on and off, temperatures below and above 1. */
export function sampledSettings(seed: number): Sampling[] {
    return [
        {maxTokens: 32, temperature: "0.7", topK: 40, topP: "0.95", seed},
        {maxTokens: 28, temperature: "1", topK: 0, topP: "1", seed: seed + 1},
        {maxTokens: 32, temperature: "1.3", topK: 20, topP: "0.9", seed: seed + 2},
        {maxTokens: 24, temperature: "0.9", topK: 0, topP: "0.8", seed: seed + 3},
        {maxTokens: 30, temperature: "1.1", topK: 8, topP: "1", seed: seed + 4}
    ]
}
