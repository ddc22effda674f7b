import type {ProcessReply} from "../../sdk/ao/index.ts"
import type {Sampling} from "../../sdk/receipt/index.ts"

/** A task as `Task-Assigned` hands it to the worker (docs/protocol.md). */
export interface Assignment {
    taskId: string
    requester: string
    model: string
    modelSha256: string
    sampling: Sampling
    format: "text" | "chat"
    deadline: number
    attempt: number
    promptMessage?: string
    promptTx?: string
    /** The prompt, unless it travels by Prompt-Tx. */
    prompt: string
}

/** Reads a `Task-Assigned` message; throws naming the first malformed tag. */
export function parseAssignment(message: ProcessReply): Assignment {
    const tag = (name: string) => {
        const value = message.tags[name]
        if (value == null) throw new Error(`Task-Assigned lacks ${name}`)
        return value
    }
    const integer = (name: string) => {
        const value = Number(tag(name))
        if (!Number.isSafeInteger(value)) throw new Error(`Task-Assigned has a malformed ${name}`)
        return value
    }
    const format = tag("Format")
    if (format !== "text" && format !== "chat") throw new Error(`Task-Assigned has an unknown Format ${format}`)
    return {
        taskId: tag("Task-Id"),
        requester: tag("Requester"),
        model: tag("Model"),
        modelSha256: tag("Model-SHA256"),
        sampling: {
            maxTokens: integer("Max-Tokens"),
            temperature: tag("Temperature"),
            topK: integer("Top-K"),
            topP: tag("Top-P"),
            seed: integer("Seed")
        },
        format,
        deadline: integer("Deadline"),
        attempt: integer("Attempt"),
        promptMessage: message.tags["Prompt-Message"],
        promptTx: message.tags["Prompt-Tx"],
        prompt: message.data
    }
}
