import {createHash} from "node:crypto"
import {z} from "zod"

/** One generated token: its log-probability and the strongest alternatives, as the worker's engine saw them. */
export const TokenRecordSchema = z.object({
    /** The token id. */
    token: z.number().int().nonnegative(),
    /** Natural-log probability of `token` under the model's raw distribution (temperature 1, no filtering). */
    logprob: z.number(),
    /** The top-k tokens (k >= 5) and their log-probabilities, strongest first: `[token, logprob]`. */
    top: z.array(z.tuple([z.number().int().nonnegative(), z.number()])).min(5)
})
export type TokenRecord = z.infer<typeof TokenRecordSchema>

export const SamplingSchema = z.object({
    maxTokens: z.number().int().positive(),
    /** As the task carried it (a decimal string), so nothing is lost to float formatting. */
    temperature: z.string(),
    topK: z.number().int().nonnegative(),
    topP: z.string(),
    seed: z.number().int().nonnegative()
})
export type Sampling = z.infer<typeof SamplingSchema>

export const EngineSchema = z.object({
    name: z.literal("node-llama-cpp"),
    version: z.string(),
    /** llama.cpp release the binding was built from. */
    llamaCpp: z.string(),
    /** `cpu`, `cuda`, `vulkan` or `metal`. */
    backend: z.string(),
    gpu: z.string().nullable(),
    threads: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    contextSize: z.number().int().positive()
})
export type Engine = z.infer<typeof EngineSchema>

/**
 * What a worker commits to for one task: everything a verifier needs to
 * re-check the answer from Arweave alone. Stored as JSON on Arweave; its
 * SHA-256 over the stored bytes is the task's Receipt-Hash.
 */
export const ReceiptSchema = z.object({
    version: z.literal(1),
    taskId: z.string(),
    worker: z.string(),
    model: z.object({id: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/)}),
    prompt: z.object({
        format: z.enum(["text", "chat"]),
        /** SHA-256 (hex) of the prompt exactly as the task delivered it (UTF-8). */
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        /** The message that carried the prompt (its Data or an X-Prompt tag). */
        messageId: z.string().optional(),
        /** The Arweave transaction holding the prompt, when it travelled by reference. */
        tx: z.string().optional()
    }),
    sampling: SamplingSchema,
    engine: EngineSchema,
    /** Token ids the model was fed: the prompt after the chat template (for `chat`) and tokenization. */
    inputTokens: z.array(z.number().int().nonnegative()),
    outputTokens: z.array(z.number().int().nonnegative()),
    /** Decoded output, as sent in Task-Result's Data. */
    output: z.string(),
    /** Why generation stopped. */
    stopReason: z.enum(["eos", "maxTokens", "contextFull"]),
    /** One record per output token, in order. */
    tokens: z.array(TokenRecordSchema),
    timings: z.object({
        startedAt: z.number(),
        promptMs: z.number().nonnegative(),
        generationMs: z.number().nonnegative()
    }),
    /** The task's log lines, for operators and disputes. */
    log: z.array(z.string())
})
export type Receipt = z.infer<typeof ReceiptSchema>

/** The stored form of a receipt and its Receipt-Hash. */
export function encodeReceipt(receipt: Receipt): {bytes: Buffer; hash: string} {
    const bytes = Buffer.from(JSON.stringify(receipt), "utf8")
    return {bytes, hash: hashReceiptBytes(bytes)}
}

/** Receipt-Hash: SHA-256 (hex) of the receipt's bytes exactly as stored. */
export function hashReceiptBytes(bytes: Uint8Array): string {
    return createHash("sha256").update(bytes).digest("hex")
}

/** SHA-256 (hex) of a prompt string as UTF-8. */
export function hashPrompt(prompt: string): string {
    return createHash("sha256").update(prompt, "utf8").digest("hex")
}

/** Parses stored receipt bytes; throws a ZodError naming what is wrong. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
    return ReceiptSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")))
}
