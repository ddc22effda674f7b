import {WeaveLMError} from "../errors/index.ts"
import {recordFromTags, tagsFromRecord} from "./tags.ts"
import type {AoOutboxMessage, AoResult, AoTransport, MessageRef, Tag} from "./types.ts"

/** A message a process sent back, with its tags as a record. */
export interface ProcessReply {
    target: string
    tags: Record<string, string>
    data: string
}

export interface SentMessage {
    id: string
    /** The message's slot in the process's schedule, where the network numbers them (HyperBEAM). */
    slot?: number
    result: AoResult
    /** Every message the process emitted while handling ours. */
    emitted: ProcessReply[]
}

/** A process answered with `<Action>-Error`, or its evaluation failed. */
export class AoProcessError extends WeaveLMError {
    public override readonly kind = "remote"
    public readonly process: string
    public readonly action: string

    public constructor(message: string, {process, action}: {process: string; action: string}) {
        super(message)
        this.name = "AoProcessError"
        this.process = process
        this.action = action
    }
}

export type TagValues = Record<string, string | number | undefined>

export interface AoClientOptions {
    /** The network, as this wallet signs for it. */
    transport: AoTransport
    /** The wallet's address; replies addressed to it are ours. */
    address: string
}

/**
 * One wallet's view of AO: sends signed messages, reads results and dry runs,
 * and turns `<Action>-Error` replies into thrown `AoProcessError`s.
 */
export class AoClient {
    public readonly transport: AoTransport
    public readonly address: string

    public constructor({transport, address}: AoClientOptions) {
        this.transport = transport
        this.address = address
    }

    public async spawn({
        module,
        scheduler,
        authority,
        tags,
        data
    }: {
        module: string
        scheduler: string
        authority: string
        tags: Tag[]
        data?: string
    }) {
        return await this.transport.spawn({module, scheduler, authority, tags, data: data ?? "1984"})
    }

    /** Sends a message and waits for its result; throws on a failed evaluation or an `-Error` reply to us. */
    public async send(process: string, tags: TagValues, data?: string): Promise<SentMessage> {
        const ref = await this.transport.message({process, tags: tagsFromRecord(tags), data})
        return this._resultOf(process, String(tags.Action ?? ""), ref)
    }

    /**
     * Sends an item someone else signed (a voucher) and waits for its result; the process sees the
     * signer as the sender. Throws on a failed evaluation; `-Error` replies are the caller's to read.
     */
    public async sendSigned(process: string, item: Uint8Array, id: string): Promise<SentMessage> {
        const ref = await this.transport.postSigned({process, item, id})
        const result = await this.transport.result({process, message: ref})
        if (result.Error != null && result.Error !== "")
            throw new AoProcessError(`Message ${id} failed in ${process}: ${stripAnsi(String(result.Error))}`, {process, action: "Message"})
        return {...ref, result, emitted: emittedBy(result)}
    }

    /** A process's latest published value of `key` (docs/protocol.md, "Published state"); undefined while none. */
    public async published(process: string, key: string): Promise<string | undefined> {
        return await this.transport.published({process, key})
    }

    private async _resultOf(process: string, action: string, ref: MessageRef): Promise<SentMessage> {
        const result = await this.transport.result({process, message: ref})
        throwOnFailure(process, action, result, this.address)
        return {...ref, result, emitted: emittedBy(result)}
    }

    /**
     * Evaluates Lua in a process we own. aos reports a Lua error in `Error` (or in
     * an error-coloured Output), which must never pass silently during a deploy.
     */
    public async eval(process: string, code: string): Promise<AoResult> {
        const {result} = await this.send(process, {Action: "Eval"}, code)
        const output = result.Output as {data?: unknown} | undefined
        if (typeof output?.data === "string" && /\u001b\[31m|^\s*\[string "/.test(output.data) && /error/i.test(output.data))
            throw new AoProcessError(`Eval failed in ${process}: ${stripAnsi(output.data)}`, {process, action: "Eval"})
        return result
    }

    /** A read-only query by dry run; resolves to the reply's tags and data. */
    public async read(process: string, tags: TagValues, data?: string): Promise<ProcessReply> {
        const result = await this.transport.dryrun({process, tags: tagsFromRecord(tags), data})
        throwOnFailure(process, String(tags.Action ?? ""), result, undefined, `${String(tags.Action)}-Error`)
        // A process may emit other messages while it evaluates a read (the escrow's
        // lazy upkeep does), so the reply is the one named after the action.
        const emitted = emittedBy(result)
        const reply = emitted.find((m) => m.tags.Action === `${String(tags.Action)}-Response`) ?? emitted[0]
        if (reply == null)
            throw new AoProcessError(`${process} sent no reply to ${String(tags.Action)}`, {process, action: String(tags.Action)})
        return reply
    }

    /** A dry-run read whose reply carries JSON in its Data. */
    public async readJson<T = unknown>(process: string, tags: TagValues, data?: string): Promise<T> {
        const reply = await this.read(process, tags, data)
        return JSON.parse(reply.data) as T
    }
}

export function emittedBy(result: AoResult): ProcessReply[] {
    return (result.Messages ?? []).map((message: AoOutboxMessage) => ({
        target: message.Target,
        tags: recordFromTags(message.Tags),
        data: typeof message.Data === "string" ? message.Data : JSON.stringify(message.Data ?? "")
    }))
}

/** Throws for a failed evaluation, or for an error reply: to `address`, or named `errorAction` when given. */
function throwOnFailure(process: string, action: string, result: AoResult, address: string | undefined, errorAction?: string) {
    if (result.Error != null && result.Error !== "")
        throw new AoProcessError(`${action || "Message"} failed in ${process}: ${stripAnsi(String(result.Error))}`, {process, action})

    for (const reply of emittedBy(result)) {
        const replyAction = reply.tags.Action ?? ""
        const isOurs = errorAction != null ? replyAction === errorAction : address == null || reply.target === address
        if (isOurs && replyAction.endsWith("-Error"))
            throw new AoProcessError(reply.tags.Error ?? `${replyAction} from ${process}`, {process, action: replyAction})
    }
}

function stripAnsi(text: string) {
    return text.replace(/\u001b\[[0-9;]*m/g, "")
}
