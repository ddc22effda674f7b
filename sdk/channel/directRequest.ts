import {z} from "zod"

/** The two OpenAI endpoints a worker serves: `/v1/chat/completions` and `/v1/completions`. */
export type CompletionEndpoint = "chat" | "completions"

/**
 * One OpenAI request as the worker runs it. The proxy parses the same body with the same function
 * to compute the fee bound its voucher must cover, so both sides agree on `prompt` and `maxTokens`.
 */
export interface DirectRequest {
    endpoint: CompletionEndpoint
    /** A registered model name or Model-Id. */
    model: string
    format: "text" | "chat"
    /**
     * The prompt exactly as the receipt hashes it: the text for `completions`; for `chat` the JSON
     * of the messages as `[{"role","content"}]`, which the model's chat template turns into tokens.
     */
    prompt: string
    maxTokens: number
    /** Decimal strings, as a receipt records them. */
    temperature: string
    topP: string
    topK: number
    /** Absent when the request names none; the worker then draws one and records it in the receipt. */
    seed?: number
    stream: boolean
}

/** Output tokens when a request sets neither max_tokens nor max_completion_tokens (the escrow's Max-Tokens default). */
export const DEFAULT_MAX_TOKENS = 256
/** OpenAI's defaults; top_k is a weavelm extension with the escrow's Top-K default. */
const DEFAULT_TEMPERATURE = 1
const DEFAULT_TOP_P = 1
const DEFAULT_TOP_K = 40

/** The body is not a request this worker can run; `param` names the field at fault. */
export class InvalidRequestError extends Error {
    public override readonly name = "InvalidRequestError"

    public constructor(
        message: string,
        public readonly param: string | null = null
    ) {
        super(message)
    }
}

const TextPartSchema = z.object({type: z.literal("text"), text: z.string()})
const MessageSchema = z.object({
    // `developer` is OpenAI's newer name for `system`.
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([z.string(), z.array(TextPartSchema)])
})

const nothing = <T extends z.ZodType>(schema: T) => schema.nullish()
const SamplingFieldsSchema = z.object({
    model: z.string().min(1),
    max_tokens: nothing(z.number().int().min(1).max(32768)),
    max_completion_tokens: nothing(z.number().int().min(1).max(32768)),
    temperature: nothing(z.number().min(0).max(2)),
    top_p: nothing(z.number().min(0).max(1)),
    top_k: nothing(z.number().int().min(0).max(1000)),
    seed: nothing(z.number().int().min(0).max(4294967295)),
    stream: nothing(z.boolean()),
    n: nothing(z.literal(1, {message: "only n = 1 is supported"})),
    // Accepted only when they change nothing: the receipt records no stop strings or penalties.
    stop: nothing(z.union([z.string(), z.array(z.string())]).refine((stop) => stop.length === 0, "stop sequences are not supported")),
    presence_penalty: nothing(z.literal(0, {message: "presence_penalty is not supported"})),
    frequency_penalty: nothing(z.literal(0, {message: "frequency_penalty is not supported"}))
})

const ChatBodySchema = SamplingFieldsSchema.extend({messages: z.array(MessageSchema).min(1)})
const CompletionBodySchema = SamplingFieldsSchema.extend({
    prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")])
})

/** Reads an OpenAI chat or completions body; throws `InvalidRequestError` naming the first bad field. */
export function parseDirectRequest(endpoint: CompletionEndpoint, body: unknown): DirectRequest {
    const parsed = (endpoint === "chat" ? ChatBodySchema : CompletionBodySchema).safeParse(body)
    if (!parsed.success) {
        const issue = parsed.error.issues[0]!
        const param = issue.path.join(".")
        throw new InvalidRequestError(
            param === "" ? `The body must be a JSON object: ${issue.message}` : `${param}: ${issue.message}`,
            param || null
        )
    }
    const fields = parsed.data
    let prompt: string
    if ("messages" in fields) {
        const messages = fields.messages.map((message) => ({
            role: message.role === "developer" ? "system" : message.role,
            content: typeof message.content === "string" ? message.content : message.content.map((part) => part.text).join("")
        }))
        prompt = JSON.stringify(messages)
    } else {
        prompt = typeof fields.prompt === "string" ? fields.prompt : fields.prompt[0]!
        if (prompt === "") throw new InvalidRequestError("prompt: must not be empty", "prompt")
    }
    return {
        endpoint,
        model: fields.model,
        format: endpoint === "chat" ? "chat" : "text",
        prompt,
        maxTokens: fields.max_completion_tokens ?? fields.max_tokens ?? DEFAULT_MAX_TOKENS,
        temperature: String(fields.temperature ?? DEFAULT_TEMPERATURE),
        topP: String(fields.top_p ?? DEFAULT_TOP_P),
        topK: fields.top_k ?? DEFAULT_TOP_K,
        seed: fields.seed ?? undefined,
        stream: fields.stream ?? false
    }
}
