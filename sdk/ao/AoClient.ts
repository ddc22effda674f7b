import {recordFromTags, tagsFromRecord} from "./tags.ts"
import type {AoOutboxMessage, AoPort, AoResult, Tag} from "./types.ts"

/** A message a process sent back, with its tags as a record. */
export interface ProcessReply {
    target: string
    tags: Record<string, string>
    data: string
}

export interface SentMessage {
    id: string
    result: AoResult
    /** Every message the process emitted while handling ours. */
    emitted: ProcessReply[]
}

/** A process answered with `<Action>-Error`, or its evaluation failed. */
export class AoProcessError extends Error {
    public readonly process: string
    public readonly action: string

    public constructor(message: string, {process, action}: {process: string, action: string}) {
        super(message)
        this.name = "AoProcessError"
        this.process = process
        this.action = action
    }
}

export type TagValues = Record<string, string | number | undefined>

export interface AoClientOptions {
    /** The aoconnect functions to talk through. */
    port: AoPort
    /** The signer aoconnect's `message`/`spawn` take for this wallet. */
    signer: unknown
    /** The wallet's address; replies addressed to it are ours. */
    address: string
}

/**
 * One wallet's view of AO: sends signed messages, reads results and dry runs,
 * and turns `<Action>-Error` replies into thrown `AoProcessError`s.
 */
export class AoClient {
    public readonly port: AoPort
    public readonly address: string
    private readonly _signer: unknown

    public constructor({port, signer, address}: AoClientOptions) {
        this.port = port
        this._signer = signer
        this.address = address
    }

    public async spawn({module, scheduler, tags, data}: {module: string, scheduler: string, tags: Tag[], data?: string}) {
        return await this.port.spawn({module, scheduler, signer: this._signer, tags, data: data ?? "1984"})
    }

    /** Sends a message and waits for its result; throws on a failed evaluation or an `-Error` reply to us. */
    public async send(process: string, tags: TagValues, data?: string): Promise<SentMessage> {
        const id = await this.port.message({process, signer: this._signer, tags: tagsFromRecord(tags), data})
        const result = await this.port.result({process, message: id})
        const sent = {id, result, emitted: emittedBy(result)}
        throwOnFailure(process, String(tags.Action ?? ""), result, this.address)
        return sent
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
        const result = await this.port.dryrun({process, tags: tagsFromRecord(tags), data, Owner: this.address})
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
