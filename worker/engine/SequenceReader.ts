import type {Llama, LlamaContextSequence, LlamaModel, Token, TokenMeter} from "node-llama-cpp"
import type {TokenRecord} from "../../sdk/receipt/index.ts"

/** What a chosen next token was drawn with; llama.cpp's own sampler chain (top-k, top-p, temperature, seeded draw). */
export interface SamplerSettings {
    temperature: number
    /** 0 turns top-k off. */
    topK: number
    topP: number
    seed: number
}

export interface Step {
    token: Token
    record: TokenRecord
}

export interface DecodeOptions {
    /** Index in the decoded tokens of the first position to read; each later one is read too. */
    from: number
    /** Tokens to record at the read positions (teacher forcing); without it the next token is chosen. */
    forced?: readonly Token[]
    /** Alternatives per record. */
    topK: number
}

/**
 * Decodes tokens into one context sequence and reads, at chosen positions, the raw next-token
 * distribution: the picked token's log-probability and the top-k alternatives.
 *
 * Why node-llama-cpp internals: its public calls (controlledEvaluate, evaluateWithMetadata) read
 * each position once, and the only public way to get top-k together with the full-vocabulary
 * normaliser (`includeTop` + `totalLogitWeight`) sorts the whole vocabulary in C++ every step
 * (2.3 ms for 32k tokens): 16 to 20% slower generation of the 125m test model on one CPU thread.
 * Here each position gets several native reads of the same logits instead, side by side: a greedy
 * chain for the argmax and the normaliser (no sort), a top-k chain at temperature 1 for the
 * alternatives (a partial sort), and the request's own chain when sampling. That costs 0 to 4% of
 * process CPU time (bench/suites/inference.ts). Written against node-llama-cpp 3.22.1;
 * `requireInternals` fails loudly if those internals move.
 */
export class SequenceReader {
    readonly #sequence: SequenceInternals
    readonly #native: NativeContext
    readonly #newSampler: () => NativeSampler
    // Greedy: picks the argmax and sums exp(logit - max) over the whole vocabulary without sorting it.
    readonly #weigher: NativeSampler
    // Top-k at temperature 1 with top-p off: a partial sort leaves the k strongest raw logits in order.
    readonly #ranker: NativeSampler
    #rankerTopK = 0

    public constructor(llama: Llama, model: LlamaModel, sequence: LlamaContextSequence) {
        const internals = requireInternals(llama, model, sequence)
        this.#sequence = internals.sequence
        this.#native = internals.native
        this.#newSampler = internals.newSampler
        this.#weigher = this.#newSampler()
        this.#weigher.applyConfig({temperature: 0})
        this.#ranker = this.#newSampler()
    }

    /**
     * A sampler for one generation: its seeded random stream advances one draw per token, as in
     * `sequence.evaluate(tokens, {temperature, topK, topP, seed})`, so both pick the same tokens.
     */
    public createSampler(settings: SamplerSettings): Sampler {
        const sampler = this.#newSampler()
        sampler.applyConfig({temperature: settings.temperature, minP: 0, topK: settings.topK, topP: settings.topP, seed: settings.seed})
        return sampler
    }

    /** Appends `tokens` to the sequence in one decode and reads every position from `options.from` on. */
    public async decode(tokens: readonly Token[], options: DecodeOptions, sampler?: Sampler): Promise<Step[]> {
        if (options.topK !== this.#rankerTopK) {
            this.#ranker.applyConfig({temperature: 1, minP: 0, topK: options.topK, topP: 1, seed: 0})
            this.#rankerTopK = options.topK
        }
        const marks: (true | undefined)[] = tokens.map((_, i) => (i >= options.from ? true : undefined))
        const sequence = this.#sequence
        const results = await sequence._decodeTokens(
            [...tokens],
            marks,
            DEFAULT_EVALUATION_PRIORITY,
            sequence.tokenMeter,
            sequence._contextShift,
            (batchLogitIndex, tokenIndex) => this.#read(batchLogitIndex, options.forced?.[tokenIndex - options.from], options.topK, sampler)
        )
        return tokens.slice(options.from).map((_, i) => results[options.from + i] as Step)
    }

    public dispose(): void {
        this.#weigher.dispose()
        this.#ranker.dispose()
    }

    async #read(batchLogitIndex: number, forced: Token | undefined, topK: number, sampler: Sampler | undefined): Promise<Step> {
        const native = this.#native
        // Three samplers reading the same logits: they can run side by side.
        const [chosen, [argmax, , , , weight], [, , , ranked]] = await Promise.all([
            forced ?? (sampler == null ? undefined : native.sampleToken(batchLogitIndex, sampler as NativeSampler)),
            native.sampleToken(batchLogitIndex, this.#weigher, false, false, false, true),
            native.sampleToken(batchLogitIndex, this.#ranker, false, false, [[], false, false, false, topK], false)
        ])
        if (chosen === -1 || weight == null || ranked == null || ranked.length === 0)
            throw new Error("llama.cpp returned no token or logits for a marked position")
        const token = chosen ?? argmax
        const max = ranked[1]!
        const logit = token === argmax ? max : (logitIn(ranked, token) ?? (await this.#logitOutsideTop(batchLogitIndex, token)))
        const logNormaliser = max + Math.log(weight)
        const top: [number, number][] = []
        for (let i = 0; i < ranked.length; i += 2) top.push([ranked[i]!, ranked[i + 1]! - logNormaliser])
        return {token, record: {token, logprob: logit - logNormaliser, top}}
    }

    // A sampled long shot or a tampered receipt's token: one more read, filtered to that token.
    async #logitOutsideTop(batchLogitIndex: number, token: Token): Promise<number> {
        const [, , , picked] = await this.#native.sampleToken(
            batchLogitIndex,
            this.#weigher,
            false,
            false,
            [[token], false, false, false, 0],
            false
        )
        if (picked?.[0] !== token) throw new Error(`llama.cpp returned no logit for token ${token}`)
        return picked[1]!
    }
}

function logitIn(pairs: readonly number[], token: Token): number | undefined {
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === token) return pairs[i + 1]
    return undefined
}

/** The request's sampler chain for one generation; dispose it when the generation ends. */
export interface Sampler {
    dispose(): void
}

// node-llama-cpp's own default for `evaluationPriority`.
const DEFAULT_EVALUATION_PRIORITY = 5

type LogitsFilter = [tokens: Token[], includeMax: boolean, includeMin: boolean, includeSelected: boolean, includeTop: number]

interface NativeSampler extends Sampler {
    applyConfig(config: Record<string, number>): void
}

interface NativeContext {
    sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<Token>
    sampleToken(
        batchLogitIndex: number,
        sampler: NativeSampler,
        probabilities: false,
        confidence: false,
        logits: LogitsFilter | false,
        totalLogitWeight: boolean
    ): Promise<[token: Token, probabilities: undefined, confidence: undefined, logits?: number[], totalLogitWeight?: number]>
}

interface SequenceInternals {
    readonly tokenMeter: TokenMeter
    readonly _contextShift: unknown
    _decodeTokens(
        tokens: Token[],
        logits: (true | undefined)[],
        evaluationPriority: number,
        tokenMeter: TokenMeter,
        contextShift: unknown,
        logitDataMapper: (batchLogitIndex: number, tokenIndex: number) => Promise<Step>
    ): Promise<unknown[]>
}

function requireInternals(llama: Llama, model: LlamaModel, sequence: LlamaContextSequence) {
    const internals = sequence as unknown as SequenceInternals & {_context?: {_ctx?: Partial<NativeContext>}}
    const native = internals._context?._ctx
    const AddonSampler = (llama as unknown as {_bindings?: {AddonSampler?: new (model: unknown) => NativeSampler}})._bindings?.AddonSampler
    const addonModel = (model as unknown as {_model?: unknown})._model
    if (
        typeof internals._decodeTokens !== "function" ||
        internals._contextShift == null ||
        typeof native?.sampleToken !== "function" ||
        typeof AddonSampler !== "function" ||
        addonModel == null
    )
        throw new Error(
            "this node-llama-cpp lacks the internals the engine reads logits through (written against 3.22.1): pin that version"
        )
    return {sequence: internals, native: native as NativeContext, newSampler: () => new AddonSampler(addonModel)}
}
