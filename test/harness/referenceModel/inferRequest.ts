import {sortedKeys} from "./collections.ts"
import type {MirrorModel} from "./EscrowBook.ts"
import type {Tags} from "./evaluation.ts"
import {check, fail} from "./guard.ts"
import type {Input} from "./input.ts"
import type {InferRequest} from "./TaskLifecycle.ts"

/** The model an Infer names, by id or else by name. */
function findModel(models: Map<string, MirrorModel>, ref: string) {
    const byId = models.get(ref)
    if (byId) return byId
    for (const id of sortedKeys(models)) if (models.get(id)!.name === ref) return models.get(id)!
    return fail(`Unknown model ${ref}`)
}

/**
 * Reads an Infer's tags (direct, or an X-forwarded per-call one) in the escrow's order: the sampling
 * parameters are only checked, and a Prompt-Tx stands in for a prompt the task does not carry.
 */
export function inferRequest(models: Map<string, MirrorModel>, input: Input, prompt: string | undefined): InferRequest {
    const model = findModel(models, input.required("Model"))
    const maxTokens = input.integer("Max-Tokens", {def: 256, min: 1, max: 32768})
    input.decimal("Temperature", {def: "0", min: 0, max: 2})
    input.integer("Top-K", {def: 40, min: 0, max: 1000})
    input.decimal("Top-P", {def: "1", min: 0, max: 1})
    input.integer("Seed", {def: 0, min: 0, max: 4294967295})
    const format = input.oneOf("Format", ["text", "chat"], "text")
    if (input.optional("Prompt-Tx") !== undefined) {
        input.id("Prompt-Tx")
        return {model, maxTokens, prompt: ""}
    }
    check(prompt !== undefined && prompt !== "", "A prompt is required (Data, or Prompt-Tx)")
    if (format === "chat") check(isChat(prompt!), "A chat prompt must be a JSON list of {role, content}")
    return {model, maxTokens, prompt: prompt!}
}

function isChat(prompt: string) {
    try {
        const messages = JSON.parse(prompt) as unknown
        return (
            Array.isArray(messages) &&
            messages.length > 0 &&
            messages.every(
                (m) =>
                    typeof m === "object" && m !== null && typeof (m as Tags).role === "string" && typeof (m as Tags).content === "string"
            )
        )
    } catch {
        return false
    }
}
