import {z} from "zod"
import type {AoClient, ProcessReply} from "../ao/index.ts"

/** The escrow's feed of every `Infer-Result`, whoever asked: what a watchtower follows. */
export const RESULTS_FEED = "results"

/**
 * The published key of the messages the escrow sent to `address`. HyperBEAM
 * lowercases keys, so the address travels as the hex of its bytes.
 */
export function inboxKey(address: string): string {
    return `inbox-${Buffer.from(address, "utf8").toString("hex")}`
}

const MailboxSchema = z.object({
    next: z.number().int().min(1),
    messages: z.array(
        z.object({
            seq: z.number().int().min(1),
            target: z.string(),
            tags: z.record(z.string(), z.string()).catch({}),
            data: z.string().optional().default("")
        })
    )
})

/** One published message, numbered within its key without gaps. */
export interface MailboxMessage extends ProcessReply {
    seq: number
}

export interface FollowMailboxOptions {
    ao: AoClient
    process: string
    /** `inboxKey(address)` or `RESULTS_FEED`. */
    key: string
    /** Yield messages numbered after this; undefined yields only those published from now on. */
    from?: number
    /** Pause between polls. Defaults to `500` ms. */
    pollMs?: number
    /** Consecutive failed polls tolerated before giving up. Defaults to `20`. */
    maxFailures?: number
    /**
     * Called when messages fell out of the published ring before they were read: the reader
     * must re-read what it needs by the escrow's reads (`Task`, `Tasks`, `Channels`).
     */
    onGap?: (missed: {from: number; to: number}) => void | Promise<void>
    signal?: AbortSignal
}

/** The number of the latest message under `key`, 0 when none was published: a cursor that skips everything so far. */
export async function mailboxCursor(ao: AoClient, process: string, key: string): Promise<number> {
    const mailbox = await readMailbox(ao, process, key)
    return mailbox == null ? 0 : mailbox.next - 1
}

/**
 * Follows what the escrow publishes under one key (docs/protocol.md, "Published state"),
 * on any network: a HyperBEAM node serves it as `patch@1.0` state, a legacy one through
 * the transport's replica. Persist `message.seq` to resume without missing any.
 */
export async function* followMailbox({
    ao,
    process,
    key,
    from,
    pollMs = 500,
    maxFailures = 20,
    onGap,
    signal
}: FollowMailboxOptions): AsyncGenerator<MailboxMessage> {
    let cursor = from ?? (await mailboxCursor(ao, process, key))
    let failures = 0
    while (signal?.aborted !== true) {
        let mailbox: z.infer<typeof MailboxSchema> | undefined
        try {
            mailbox = await readMailbox(ao, process, key)
            failures = 0
        } catch (error) {
            if (++failures >= maxFailures) throw error
            await sleep(pollMs, signal)
            continue
        }
        const fresh = mailbox?.messages.filter((m) => m.seq > cursor) ?? []
        if (fresh.length > 0 && fresh[0]!.seq > cursor + 1) await onGap?.({from: cursor + 1, to: fresh[0]!.seq - 1})
        for (const message of fresh) {
            cursor = message.seq
            yield message
        }
        await sleep(pollMs, signal)
    }
}

async function readMailbox(ao: AoClient, process: string, key: string) {
    const raw = await ao.published(process, key)
    return raw == null ? undefined : MailboxSchema.parse(JSON.parse(raw))
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind on the signal. */
export function sleep(ms: number, signal?: AbortSignal) {
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

export interface AwaitReplyOptions {
    ao: AoClient
    process: string
    /** The inbox cursor taken before the message that causes the reply was sent. */
    from: number
    match: (message: MailboxMessage) => boolean
    signal?: AbortSignal
}

/**
 * The first message in this wallet's inbox after `from` that `match`es: how a wallet hears
 * the escrow's answer to a token transfer, which replies to the token's notice, not to us.
 * Resolves undefined when `signal` aborts first.
 */
export async function awaitReply({ao, process, from, match, signal}: AwaitReplyOptions): Promise<MailboxMessage | undefined> {
    for await (const message of followMailbox({ao, process, key: inboxKey(ao.address), from, signal})) {
        if (match(message)) return message
    }
    return undefined
}
