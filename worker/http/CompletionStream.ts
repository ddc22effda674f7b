import type {ServerResponse} from "node:http"
import type {Token} from "node-llama-cpp"
import type {Generation, LoadedModel} from "../engine/index.ts"
import {finishReason, type CompletionShape, type SettlementField} from "./completionBodies.ts"

/** Tokens before a piece that its detokenization looks at, for spacing. */
const CONTEXT_TOKENS = 8

/**
 * One `stream: true` response: server-sent events in OpenAI's chunk shapes, a chunk per piece of
 * text as tokens arrive, then the finish chunk, a usage chunk with `choices: []` and the `weavelm`
 * settlement, and `data: [DONE]`. Headers go out with the first token, so a request that fails
 * before generating still gets a plain JSON error.
 */
export class CompletionStream {
    readonly #response: ServerResponse
    readonly #shape: CompletionShape
    readonly #model: LoadedModel
    #pending: Token[] = []
    #context: Token[] = []
    #text = ""

    public constructor(response: ServerResponse, shape: CompletionShape, model: LoadedModel) {
        this.#response = response
        this.#shape = shape
        this.#model = model
    }

    /** Whether the events have started: an error can then only end the stream. */
    public get started(): boolean {
        return this.#response.headersSent
    }

    /** A generated token; text that ends inside a UTF-8 character waits for the rest of it. */
    public token(token: Token): void {
        if (this.#model.isEogToken(token)) return
        this.#pending.push(token)
        const text = this.#model.detokenize(this.#pending, false, this.#context)
        if (text.endsWith("\uFFFD")) return
        this.#context = [...this.#context, ...this.#pending].slice(-CONTEXT_TOKENS)
        this.#pending = []
        this.#delta(text)
    }

    public finish(generation: Generation, settlement: SettlementField): void {
        // Pieces detokenized one by one can miss what only the whole text shows; the receipt's output is the truth.
        if (generation.output.startsWith(this.#text)) this.#delta(generation.output.slice(this.#text.length))
        const reason = finishReason(generation)
        this.#event(
            this.#shape.kind === "chat"
                ? this.#chunk([{index: 0, delta: {}, finish_reason: reason, logprobs: null}])
                : this.#chunk([{index: 0, text: "", finish_reason: reason, logprobs: null}])
        )
        const usage = {
            prompt_tokens: generation.inputTokens.length,
            completion_tokens: generation.outputTokens.length,
            total_tokens: generation.inputTokens.length + generation.outputTokens.length
        }
        this.#event({...this.#chunk([]), usage, weavelm: settlement})
        this.#response.end("data: [DONE]\n\n")
    }

    /** Ends a started stream with an error event, as OpenAI's API does. */
    public fail(error: {message: string; type: string; code: string}): void {
        this.#event({error})
        this.#response.end()
    }

    #delta(text: string) {
        if (text === "") return
        this.#text += text
        this.#event(
            this.#shape.kind === "chat"
                ? this.#chunk([{index: 0, delta: {content: text}, finish_reason: null, logprobs: null}])
                : this.#chunk([{index: 0, text, finish_reason: null, logprobs: null}])
        )
    }

    #chunk(choices: unknown[]) {
        const {id, created, model, kind} = this.#shape
        return {id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model, choices}
    }

    #event(body: unknown) {
        if (!this.#response.headersSent) {
            this.#response.writeHead(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive"})
            if (this.#shape.kind === "chat")
                this.#response.write(
                    `data: ${JSON.stringify(this.#chunk([{index: 0, delta: {role: "assistant", content: ""}, finish_reason: null, logprobs: null}]))}\n\n`
                )
        }
        this.#response.write(`data: ${JSON.stringify(body)}\n\n`)
    }
}
