import {z} from "zod"

const amount = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String)

/**
 * What a worker reports with every completion (the body's `weavelm` field, or
 * the final chunk's when streaming): what the request cost and the hash of
 * its receipt.
 */
export const SettlementSchema = z.object({
    channel: z.string(),
    nonce: z.coerce.number().int(),
    fee: amount,
    cumulativeOwed: amount,
    receiptHash: z.string().regex(/^[0-9a-f]{64}$/)
})
export type Settlement = z.infer<typeof SettlementSchema>

/** The `weavelm` field of a completion body; null when it has none. */
export function settlementOf(body: unknown): Settlement | null {
    const field = (body as {weavelm?: unknown} | null)?.weavelm
    if (field == null) return null
    return SettlementSchema.parse(field)
}

/**
 * Reads an OpenAI server-sent-event stream as its bytes pass by, without
 * holding them back: it remembers the settlement of the final chunk and
 * whether `[DONE]` arrived. Only events that mention `weavelm` are parsed, so
 * the many token chunks cost a substring search each.
 */
export class SseSettlementReader {
    private readonly _decoder = new TextDecoder()
    private _pending = ""
    private _settlement: Settlement | null = null
    private _done = false

    public get settlement(): Settlement | null {
        return this._settlement
    }

    /** Whether the stream ended with `data: [DONE]`. */
    public get done(): boolean {
        return this._done
    }

    public push(bytes: Uint8Array) {
        this._pending += this._decoder.decode(bytes, {stream: true})
        let end: number
        while ((end = this._pending.search(/\r?\n\r?\n/)) >= 0) {
            const event = this._pending.slice(0, end)
            this._pending = this._pending.slice(end).replace(/^\r?\n\r?\n/, "")
            this._read(event)
        }
    }

    private _read(event: string) {
        const data = event.split(/\r?\n/).filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n")
        if (data === "[DONE]") this._done = true
        else if (data.includes("\"weavelm\"")) this._settlement = settlementOf(JSON.parse(data)) ?? this._settlement
    }
}
