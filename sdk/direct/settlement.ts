import {z} from "zod"
import {EventStreamParser} from "../sse/index.ts"

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
 * whether `[DONE]` arrived. Only events that mention `weavelm` are parsed as
 * JSON, so the many token chunks cost a substring search each.
 */
export class SseSettlementReader {
    private readonly _events = new EventStreamParser()
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
        for (const {data} of this._events.push(bytes)) {
            if (data === "[DONE]") this._done = true
            else if (data.includes('"weavelm"')) this._settlement = settlementOf(JSON.parse(data)) ?? this._settlement
        }
    }
}
