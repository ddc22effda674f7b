import {
    resolveChatWrapper,
    type ChatHistoryItem,
    type ChatWrapper,
    type Llama,
    type LlamaContext,
    type LlamaContextSequence,
    type LlamaModel,
    type Token
} from "node-llama-cpp"
import {z} from "zod"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import type {Engine, Sampling, TokenRecord} from "../../sdk/receipt/index.ts"
import {weightClassOf, type WeightClass} from "../../verifier/thresholds.ts"
import type {EngineInfo} from "./EngineInfo.ts"
import {SequenceReader, type SamplerSettings} from "./SequenceReader.ts"

export interface LoadedModelOptions {
    /**
     * Tokens one generation holds, prompt and output together. llama.cpp may round a small size up
     * to 256; the result's `engine.contextSize` is the size in use. Defaults to the model's training
     * context size.
     */
    contextSize?: number
    /** Generations that run at once, as sequences of one context; more wait in a queue. Defaults to 1. */
    sequences?: number
    /** Prompt tokens decoded per batch. Defaults to node-llama-cpp's: 512, or the context size when smaller. */
    batchSize?: number
    /**
     * CPU threads the context decodes with, always exactly this many. Defaults to the engine's
     * `threads`: 1 on the CPU, because on a busy machine every extra thread waits for a core at each
     * barrier (on a loaded 2-core machine, 2 threads took 4.4 s for 32 tokens that 1 did in 21 ms).
     */
    threads?: number
    /**
     * Flash attention: `true`, `false`, or `"auto"` to let llama.cpp decide (on the CPU it turns it
     * on). Defaults to `false`, for workers and verifiers alike: with it on, a single-token decode past
     * 256 cached tokens splits the attention between the threads and rounds by their count, so a
     * receipt's numbers would depend on a thread count the verifier cannot check; off, token-by-token
     * decoding is bit-identical for any thread count (measured: 1 and 2 threads, 700 of 700
     * positions), and so is the verifier's one-pass re-score. The tolerances (verifier/thresholds.ts)
     * are calibrated with it off on both sides.
     */
    flashAttention?: boolean | "auto"
}

/** `format: "chat"` prompts are a JSON array of these; the model's chat template turns them into tokens. */
export interface ChatMessage {
    role: "system" | "user" | "assistant"
    content: string
}

export interface GenerateRequest {
    /** Raw text for `text`; a JSON array of `ChatMessage`s for `chat`. */
    prompt: string
    format: "text" | "chat"
    sampling: Sampling
    signal?: AbortSignal
    /**
     * Called with each output token as soon as it is chosen, a final EOG token included, before the
     * next is decoded: for streaming. It must not throw and should return quickly.
     */
    onToken?: (token: Token) => void
}

export interface Generation {
    /** What the model was fed: BOS and the tokenized text, or the chat template's tokens. */
    inputTokens: Token[]
    /** Ends with the EOG token when `stopReason` is `eos`. */
    outputTokens: Token[]
    /** `outputTokens` detokenized, without a final EOG token. */
    output: string
    stopReason: "eos" | "maxTokens" | "contextFull"
    /** One record per output token. */
    tokens: TokenRecord[]
    timings: {
        /** Reading the prompt and choosing the first token. */
        promptMs: number
        /** Every later token. */
        generationMs: number
    }
    engine: Engine
}

export interface ScoreRequest {
    inputTokens: readonly number[]
    outputTokens: readonly number[]
    /** Alternatives per record. Defaults to 5. */
    topK?: number
    /**
     * `prefill` (the default): the output in chunks of 32 tokens, the verifier's fast re-score.
     * `decode`: the prompt as generate() feeds it, then the output one token at a time, exactly the
     * kernels a worker's generation runs; about as slow as generating, and with flash attention off
     * bit-identical whatever the thread count, which is what referees need to agree.
     */
    mode?: ScoreMode
}

export type ScoreMode = "prefill" | "decode"

/** The prompt and room for one output token do not fit the context. */
export class PromptTooLongError extends WeaveLMError {
    public override readonly name = "PromptTooLongError"
    public override readonly kind = "user"

    public constructor(
        public readonly tokens: number,
        public readonly contextSize: number
    ) {
        super(`the prompt is ${tokens} tokens; the context holds ${contextSize}, and at least 1 must be left for the output`)
    }
}

/** A chat prompt that is not a JSON array of {role, content}, or an empty prompt. */
export class InvalidPromptError extends WeaveLMError {
    public override readonly name = "InvalidPromptError"
    public override readonly kind = "user"
}

/** Alternatives recorded per generated token: the receipt's minimum. */
const RECORD_TOP_K = 5
/** Output tokens per batch in score(); see there. */
const SCORE_CHUNK = 32

const ChatPromptSchema = z.array(z.object({role: z.enum(["system", "user", "assistant"]), content: z.string()})).min(1)

interface Slot {
    sequence: LlamaContextSequence
    reader: SequenceReader
}

/**
 * A model with one context, ready to generate with receipts and to re-score them. Made by
 * `InferenceEngine.loadModel`; `dispose()` frees the context and the model.
 */
export class LoadedModel {
    readonly #model: LlamaModel
    readonly #context: LlamaContext
    readonly #engine: Engine
    readonly #flashAttention: boolean | "auto"
    readonly #chatWrapper: ChatWrapper
    readonly #vocabularySize: number
    readonly #slots: Slot[] = []
    readonly #free: Slot[] = []
    readonly #waiting: ((slot: Slot) => void)[] = []

    public constructor(llama: Llama, model: LlamaModel, context: LlamaContext, engine: EngineInfo) {
        this.#model = model
        this.#context = context
        this.#engine = {...engine, threads: context.idealThreads, batchSize: context.batchSize, contextSize: context.contextSize}
        this.#flashAttention = context.flashAttention
        this.#chatWrapper = resolveChatWrapper(model)
        this.#vocabularySize = (model.fileInfo.metadata.tokenizer.ggml.tokens as readonly unknown[]).length
        while (context.sequencesLeft > 0) {
            const sequence = context.getSequence()
            this.#slots.push({sequence, reader: new SequenceReader(llama, model, sequence)})
        }
        this.#free.push(...this.#slots)
    }

    /** Tokens one generation holds, prompt and output together. */
    public get contextSize(): number {
        return this.#engine.contextSize
    }

    /** Token ids run from 0 to this, exclusive. detokenize() and isEogToken() abort the process on others: check first. */
    public get vocabularySize(): number {
        return this.#vocabularySize
    }

    /** What the receipt's `engine` records for this model's context: backend, threads, batch and context size. */
    public get engine(): Engine {
        return {...this.#engine}
    }

    /** The precision class of the weights (`general.file_type`): which honest noise the verifier allows them. */
    public get weightClass(): WeightClass {
        return weightClassOf(this.#model.fileInfo.metadata.general.file_type)
    }

    /** The context's flash-attention setting as loaded (`LoadedModelOptions.flashAttention`); `"auto"` is on for the CPU. */
    public get flashAttention(): boolean | "auto" {
        return this.#flashAttention
    }

    /** `lastTokens`, the tokens before `tokens`, let a streamed piece get its leading space right. */
    public detokenize(tokens: readonly Token[], specialTokens = false, lastTokens?: readonly Token[]): string {
        return this.#model.detokenize(tokens, specialTokens, lastTokens)
    }

    /**
     * The tokens generate() feeds the model for a prompt: BOS and the text for `text`, the chat
     * template's tokens for `chat`. A verifier compares them with a receipt's `inputTokens`.
     * Throws `InvalidPromptError` where generate() would.
     */
    public tokenizePrompt(prompt: string, format: "text" | "chat"): Token[] {
        return format === "chat" ? this.#chatTokens(prompt) : this.#textTokens(prompt)
    }

    /** Whether `token` ends a generation (EOS, EOT, ...). */
    public isEogToken(token: number): boolean {
        return this.#model.isEogToken(token as Token)
    }

    /**
     * Generates a completion and records every token's log-probability and top alternatives.
     * Temperature "0" is greedy; anything higher samples with llama.cpp's chain (top-k, top-p,
     * temperature) seeded by `seed`, exactly as `sequence.evaluate` would. The same request on the
     * same engine, threads and batch size gives the same tokens and records; generations running
     * side by side share decode batches, which can move logits in their last digits.
     */
    public async generate({prompt, format, sampling, signal, onToken}: GenerateRequest): Promise<Generation> {
        const settings = samplerSettings(sampling)
        const inputTokens = format === "chat" ? this.#chatTokens(prompt) : this.#textTokens(prompt)
        if (inputTokens.length >= this.contextSize) throw new PromptTooLongError(inputTokens.length, this.contextSize)
        return this.#withSlot(signal, async ({sequence, reader}) => {
            await sequence.clearHistory()
            const sampler = settings == null ? undefined : reader.createSampler(settings)
            try {
                const started = performance.now()
                let [step] = await reader.decode(inputTokens, {from: inputTokens.length - 1, topK: RECORD_TOP_K}, sampler)
                const promptMs = performance.now() - started
                const outputTokens: Token[] = []
                const tokens: TokenRecord[] = []
                for (;;) {
                    outputTokens.push(step!.token)
                    tokens.push(step!.record)
                    onToken?.(step!.token)
                    const stopReason = this.#model.isEogToken(step!.token)
                        ? "eos"
                        : outputTokens.length >= sampling.maxTokens
                          ? "maxTokens"
                          : inputTokens.length + outputTokens.length >= this.contextSize
                            ? "contextFull"
                            : undefined
                    if (stopReason != null) {
                        const text = stopReason === "eos" ? outputTokens.slice(0, -1) : outputTokens
                        const timings = {promptMs, generationMs: performance.now() - started - promptMs}
                        return {
                            inputTokens,
                            outputTokens,
                            output: this.#model.detokenize(text),
                            stopReason,
                            tokens,
                            timings,
                            engine: {...this.#engine}
                        }
                    }
                    signal?.throwIfAborted()
                    ;[step] = await reader.decode([step!.token], {from: 0, topK: RECORD_TOP_K}, sampler)
                }
            } finally {
                sampler?.dispose()
            }
        })
    }

    /**
     * Teacher forcing: feeds `inputTokens` and `outputTokens` and returns, for every output token,
     * its log-probability and the top-k alternatives as the model sees them, in the shape of a
     * receipt's records. The input is decoded as generate() decodes a prompt (in batches of
     * `batchSize`, so load with the receipt's).
     *
     * `mode: "prefill"` decodes the output in chunks of 32 tokens: on the CPU, llama.cpp computes
     * every row of a batch under 64 tokens exactly as for a single token, so an honest q8_0
     * generation re-scores bit for bit (measured on the 125m model: chunks of 16 to 63 exact, 64 and
     * more not; 64 is ggml's flash-attention tile, whose batched kernel keeps the queries in f32, and
     * with flash attention off even 32 differ). Chunks of 32 to 63 cost the same (the kernels are
     * compute-bound there); one batch would save about 15% and lose the bit-exactness
     * (docs/verification.md, Cost). Other weight types and GPU kernels round batches differently:
     * compare with tolerances.
     *
     * `mode: "decode"` feeds the output one token at a time, as generate() does: the worker's own
     * kernels, so a receipt generated with the same settings replays bit for bit, at any length and
     * weight type. With flash attention off it gives the same numbers for any thread count.
     */
    public async score({inputTokens, outputTokens, topK = RECORD_TOP_K, mode = "prefill"}: ScoreRequest): Promise<TokenRecord[]> {
        // Receipts come from strangers, and llama.cpp aborts the process on an id outside the vocabulary.
        const invalid = [...inputTokens, ...outputTokens].find(
            (token) => !Number.isInteger(token) || token < 0 || token >= this.#vocabularySize
        )
        if (invalid !== undefined) throw new RangeError(`token ${invalid} is not in the model's vocabulary of ${this.#vocabularySize}`)
        if (inputTokens.length === 0) throw new RangeError("score needs at least one input token")
        if (!Number.isInteger(topK) || topK < 1) throw new RangeError(`topK must be a positive integer, got ${topK}`)
        if (inputTokens.length + outputTokens.length > this.contextSize)
            throw new RangeError(
                `${inputTokens.length} input and ${outputTokens.length} output tokens do not fit the context of ${this.contextSize}`
            )
        if (outputTokens.length === 0) return []
        const input = inputTokens as Token[]
        const output = outputTokens as Token[]
        const chunk = mode === "decode" ? 1 : SCORE_CHUNK
        return this.#withSlot(undefined, async ({sequence, reader}) => {
            await sequence.clearHistory()
            const steps = await reader.decode(input, {from: input.length - 1, forced: output.slice(0, 1), topK})
            for (let start = 0; start < output.length - 1; start += chunk) {
                const tokens = output.slice(start, Math.min(start + chunk, output.length - 1))
                steps.push(...(await reader.decode(tokens, {from: 0, forced: output.slice(start + 1), topK})))
            }
            return steps.map((step) => step.record)
        })
    }

    public async dispose(): Promise<void> {
        for (const slot of this.#slots) slot.reader.dispose()
        await this.#context.dispose()
        await this.#model.dispose()
    }

    #textTokens(prompt: string): Token[] {
        const bos = this.#model.tokens.shouldPrependBosToken ? this.#model.tokens.bos : null
        const tokens = [...(bos == null ? [] : [bos]), ...this.#model.tokenize(prompt)]
        if (tokens.length === 0) throw new InvalidPromptError("the prompt is empty")
        return tokens
    }

    #chatTokens(prompt: string): Token[] {
        let json: unknown
        try {
            json = JSON.parse(prompt)
        } catch (error) {
            throw new InvalidPromptError(`a chat prompt must be JSON: ${(error as Error).message}`)
        }
        const parsed = ChatPromptSchema.safeParse(json)
        if (!parsed.success)
            throw new InvalidPromptError(
                `a chat prompt must be a non-empty JSON array of {role: system|user|assistant, content}: ${parsed.error.message}`
            )
        const chatHistory = parsed.data.map(
            (message): ChatHistoryItem =>
                message.role === "assistant" ? {type: "model", response: [message.content]} : {type: message.role, text: message.content}
        )
        // An assistant message last is a reply to continue; otherwise the template opens a new one.
        if (chatHistory.at(-1)!.type !== "model") chatHistory.push({type: "model", response: []})
        return this.#chatWrapper.generateContextState({chatHistory}).contextText.tokenize(this.#model.tokenizer)
    }

    async #withSlot<T>(signal: AbortSignal | undefined, use: (slot: Slot) => Promise<T>): Promise<T> {
        const slot = await this.#acquire(signal)
        try {
            return await use(slot)
        } finally {
            const next = this.#waiting.shift()
            if (next == null) this.#free.push(slot)
            else next(slot)
        }
    }

    #acquire(signal: AbortSignal | undefined): Promise<Slot> {
        signal?.throwIfAborted()
        const free = this.#free.shift()
        if (free != null) return Promise.resolve(free)
        return new Promise((resolve, reject) => {
            const onAbort = () => {
                this.#waiting.splice(this.#waiting.indexOf(take), 1)
                reject(signal!.reason)
            }
            const take = (slot: Slot) => {
                signal?.removeEventListener("abort", onAbort)
                resolve(slot)
            }
            signal?.addEventListener("abort", onAbort, {once: true})
            this.#waiting.push(take)
        })
    }
}

/** Null for greedy decoding. */
function samplerSettings({maxTokens, temperature, topK, topP, seed}: Sampling): SamplerSettings | null {
    const settings = {temperature: decimal(temperature), topK, topP: decimal(topP), seed}
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${maxTokens}`)
    if (!(settings.temperature >= 0)) throw new RangeError(`temperature must be a number >= 0, got ${JSON.stringify(temperature)}`)
    if (!(settings.topP >= 0 && settings.topP <= 1)) throw new RangeError(`topP must be a number in [0, 1], got ${JSON.stringify(topP)}`)
    if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`topK must be an integer >= 0, got ${topK}`)
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`)
    return settings.temperature === 0 ? null : settings
}

function decimal(text: string): number {
    return /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN
}
