import {getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type Token} from "node-llama-cpp"

export interface MeasureMarginsOptions {
    /** Tokens to generate greedily after the prompt. Defaults to 64. */
    tokens?: number
    /** CPU threads for evaluation. Defaults to 1: on a busy 2-core machine more threads crawl. */
    threads?: number
    /** Text the generation continues. Defaults to "The". */
    prompt?: string
    /**
     * An already loaded llama.cpp binding to reuse; it is left open. Defaults to a CPU-only one
     * (`gpu: false`, prebuilt binaries only) created and disposed for this call.
     */
    llama?: Llama
}

/** One greedy decoding step. */
export interface GreedyStep {
    readonly token: Token
    /** Probability of the chosen (top-1) token. */
    readonly top1Probability: number
    /** log p(top-1) - log p(top-2), in nats (equal to the difference of their logits). */
    readonly margin: number
}

export interface ModelMargins {
    readonly steps: readonly GreedyStep[]
    /** The generated tokens, detokenized. */
    readonly text: string
    readonly medianTop1Probability: number
    readonly medianMargin: number
    readonly minMargin: number
    /**
     * Steps whose top two logits were exactly equal. Greedy decoding then depends on tie-breaking
     * rather than on the model, so a test model must have none.
     */
    readonly exactTies: number
}

/**
 * Loads a model in node-llama-cpp, generates greedily token by token through the sequence API
 * and reports how decisive each choice was: the margins a verifier's tolerances must stay within.
 */
export async function measureModelMargins(path: string, options: MeasureMarginsOptions = {}): Promise<ModelMargins> {
    const tokens = options.tokens ?? 64
    if (!Number.isInteger(tokens) || tokens < 1) throw new RangeError(`tokens must be a positive integer, got ${tokens}`)
    const llama = options.llama ?? (await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error}))
    try {
        const model = await llama.loadModel({modelPath: path})
        try {
            const promptTokens = model.tokenize(options.prompt ?? "The")
            if (model.tokens.bos !== null && model.tokens.shouldPrependBosToken) promptTokens.unshift(model.tokens.bos)
            const context = await model.createContext({
                contextSize: promptTokens.length + tokens,
                threads: options.threads ?? 1
            })
            const steps = await generateGreedily(context.getSequence(), promptTokens, tokens)
            const margins = steps.map((step) => step.margin)
            return {
                steps,
                text: model.detokenize(steps.map((step) => step.token)),
                medianTop1Probability: median(steps.map((step) => step.top1Probability)),
                medianMargin: median(margins),
                minMargin: Math.min(...margins),
                exactTies: margins.filter((margin) => margin === 0).length
            }
        } finally {
            await model.dispose()
        }
    } finally {
        if (options.llama === undefined) await llama.dispose()
    }
}

// Asks only for the top two logits and the softmax denominator: a full-vocabulary probability
// map costs about a third of generation speed on a 32k vocabulary.
async function generateGreedily(sequence: LlamaContextSequence, prompt: Token[], count: number): Promise<GreedyStep[]> {
    const steps: GreedyStep[] = []
    let input = prompt
    while (steps.length < count) {
        const last = input[input.length - 1]!
        const results = await sequence.controlledEvaluate([
            ...input.slice(0, -1),
            [last, {generateNext: {logits: {filter: {tokens: [], includeTop: 2}}, totalLogitWeight: true}}]
        ])
        const next = results[results.length - 1]?.next
        const [first, second] = [...(next?.logits ?? new Map<Token, number>())]
        if (first === undefined || second === undefined || next?.totalLogitWeight === undefined)
            throw new Error("node-llama-cpp returned no top-2 logits")
        // totalLogitWeight is sum(exp(logit - max)), and the top-1 logit is the max.
        steps.push({token: first[0], top1Probability: 1 / next.totalLogitWeight, margin: first[1] - second[1]})
        input = [first[0]]
    }
    return steps
}

function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = sorted.length >> 1
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
