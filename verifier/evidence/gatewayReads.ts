import {GatewayError, withRetry, type RetryOptions} from "../../sdk/storage/index.ts"

/** Reads of an Arweave gateway: data by id (retried), and an upload's tags by GraphQL. */
export interface GatewayReader {
    /** The data of a transaction or message; throws `GatewayError` when the gateway has none. */
    data(id: string): Promise<Uint8Array>
    /** Its tags; null when the gateway could not say. */
    tags(id: string): Promise<Record<string, string> | null>
    /** The address that signed it; null when the gateway could not say. */
    owner(id: string): Promise<string | null>
}

export function gatewayReader({
    gateway,
    fetch: http = fetch,
    retry
}: {
    gateway: string
    fetch?: typeof fetch
    retry?: RetryOptions
}): GatewayReader {
    const base = gateway.replace(/\/$/, "")
    return {
        data: (id) =>
            withRetry(
                `Reading ${id}`,
                async () => {
                    const response = await http(`${base}/${id}`)
                    if (response.status === 404) throw new GatewayError(`${id} was not found on ${base}`)
                    if (!response.ok) throw new Error(`HTTP ${response.status} from ${base}/${id}`)
                    return new Uint8Array(await response.arrayBuffer())
                },
                retry
            ),
        tags: async (id) => (await readUpload(http, base, id).catch(() => null))?.tags ?? null,
        owner: async (id) => (await readUpload(http, base, id).catch(() => null))?.owner ?? null
    }
}

/** Where the prompt text came from. */
export type PromptSource = "input" | "prompt-tx" | "task" | "prompt-message" | "prompt-message-tag" | "evidence"

/** What names a task's prompt: the escrow's task record, or a receipt's `prompt`. */
export interface PromptReference {
    promptTx?: string
    /** The prompt itself, where the record still holds it (the escrow's, while a task is Assigned). */
    inRecord?: string
    promptMessage?: string
    /** The task was a per-call Infer paid by token transfer: its prompt is the message's X-Prompt tag. */
    perCall?: boolean
}

/**
 * The prompt text: Prompt-Tx from the gateway, else the record's own copy, else the message that
 * opened the task (its Data, or its X-Prompt tag for a per-call Infer: tokens do not forward Data).
 * Null, with a note saying why, when none can be read.
 */
export async function readPromptText(
    reader: GatewayReader,
    reference: PromptReference,
    notes: string[]
): Promise<{text: string; source: PromptSource} | null> {
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")
    if (reference.promptTx != null && reference.promptTx !== "") {
        try {
            return {text: text(await reader.data(reference.promptTx)), source: "prompt-tx"}
        } catch (error) {
            notes.push(`the prompt transaction ${reference.promptTx} cannot be read: ${(error as Error).message}`)
            return null
        }
    }
    if (reference.inRecord != null) return {text: reference.inRecord, source: "task"}
    if (reference.promptMessage == null) {
        notes.push("the task names no prompt message: pass the prompt to check it")
        return null
    }
    try {
        const tags = await reader.tags(reference.promptMessage)
        if (reference.perCall === true || tags?.Action === "Credit-Notice") {
            if (tags?.["X-Prompt"] != null) return {text: tags["X-Prompt"], source: "prompt-message-tag"}
            notes.push(`the per-call task's message ${reference.promptMessage} shows no X-Prompt tag: pass the prompt to check it`)
            return null
        }
        return {text: text(await reader.data(reference.promptMessage)), source: "prompt-message"}
    } catch (error) {
        notes.push(`the prompt message ${reference.promptMessage} cannot be read: ${(error as Error).message}`)
        return null
    }
}

async function readUpload(
    http: typeof fetch,
    gateway: string,
    id: string
): Promise<{tags: Record<string, string>; owner: string | null} | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null
    const query = `query { transactions(ids: ["${id}"]) { edges { node { id owner { address } tags { name value } } } } }`
    const response = await http(`${gateway}/graphql`, {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({query})
    })
    if (!response.ok) return null
    const body = (await response.json()) as {
        data?: {transactions?: {edges?: {node?: {id?: string; owner?: {address?: string}; tags?: {name: string; value: string}[]}}[]}}
    }
    const node = body.data?.transactions?.edges?.map((edge) => edge.node).find((n) => n?.id === id)
    if (node?.tags == null) return null
    return {tags: Object.fromEntries(node.tags.map(({name, value}) => [name, value])), owner: node.owner?.address ?? null}
}
