import {recordFromTags, tagsFromRecord} from "./tags.ts"
import type {AoPort, AoResult, AoTransport, Tag} from "./types.ts"
import {NodeRefusedError, NodesUnreachableError} from "./nodeFailover.ts"

export interface LegacyTransportOptions {
    /** aoconnect legacy-mode clients, one per MU/CU pair, tried in order. */
    ports: readonly AoPort[]
    /** The MU URLs of those clients, in the same order, where pre-signed items are posted. */
    mus: readonly string[]
    /** What aoconnect's legacy `message`/`spawn` take to sign. */
    signer: unknown
    /** The signing wallet's address: the Owner of dry runs. */
    address: string
}

/**
 * AO legacy units through aoconnect's legacy mode. Legacy CUs have no
 * `patch@1.0`, but they return each evaluation's outbox, patch messages
 * included: `published` keeps a replica of each process's published keys by
 * following its results with a cursor, and asks the process itself
 * (`Action=Published`) for a key it has not seen change yet.
 */
export function legacyTransport({ports, mus, signer, address}: LegacyTransportOptions): AoTransport {
    const replicas = new Map<string, PublishedReplica>()
    // Reads repeat safely on the next unit; a message is only re-sent where the first unit was unreachable.
    const anyPort = <T>(call: (port: AoPort) => Promise<T>) => inOrder(ports, call, () => true)
    const reachablePort = <T>(call: (port: AoPort) => Promise<T>) => inOrder(ports, call, isConnectionError)

    const transport: AoTransport = {
        async spawn({module, scheduler, authority, tags, data}) {
            const withAuthority = tags.some((tag) => tag.name === "Authority") ? tags : [{name: "Authority", value: authority}, ...tags]
            return await reachablePort((port) => port.spawn({module, scheduler, signer, tags: withAuthority, data: data ?? "1984"}))
        },
        async message({process, tags, data}) {
            return {id: await reachablePort((port) => port.message({process, signer, tags, data}))}
        },
        async postSigned({item, id}) {
            let lastFailure = ""
            for (const mu of mus) {
                const response = await fetch(mu, {
                    method: "POST",
                    headers: {"Content-Type": "application/octet-stream", Accept: "application/json"},
                    body: new Uint8Array(item)
                }).catch((error: unknown) => {
                    lastFailure = `${mu}: ${error instanceof Error ? error.message : String(error)}`
                    return undefined
                })
                if (response == null) continue
                if (response.status >= 500) {
                    lastFailure = `${mu}: HTTP ${response.status}`
                    continue
                }
                if (!response.ok) throw new NodeRefusedError(mu, response.status, await response.text())
                return {id}
            }
            throw new NodesUnreachableError(mus, lastFailure)
        },
        async result({process, message}) {
            return await anyPort((port) => port.result({process, message: message.id}))
        },
        async dryrun({process, tags, data}) {
            return await anyPort((port) => port.dryrun({process, tags, data, Owner: address}))
        },
        async published({process, key}) {
            let replica = replicas.get(process)
            if (replica == null) {
                const {edges} = await anyPort((port) => port.results({process, sort: "DESC", limit: 1}))
                replica = {cursor: edges[0]?.cursor, values: new Map(), asked: new Set()}
                replicas.set(process, replica)
            }
            await catchUp(replica, process)
            if (!replica.values.has(key) && !replica.asked.has(key)) {
                replica.asked.add(key)
                const value = await askProcess(process, key)
                // A patch seen while the question was out is newer than the answer.
                if (value !== undefined && !replica.values.has(key)) replica.values.set(key, value)
            }
            return replica.values.get(key)
        }
    }
    return transport

    async function catchUp(replica: PublishedReplica, process: string) {
        for (;;) {
            const {edges} = await anyPort((port) => port.results({process, from: replica.cursor, sort: "ASC", limit: 100}))
            for (const edge of edges) {
                replica.cursor = edge.cursor
                for (const [key, value] of patchesIn(edge.node)) replica.values.set(key, value)
            }
            if (edges.length < 100) return
        }
    }

    async function askProcess(process: string, key: string): Promise<string | undefined> {
        const result = await transport.dryrun({process, tags: tagsFromRecord({Action: "Published", Key: key})})
        const reply = (result.Messages ?? [])
            .map((m) => ({tags: recordFromTags(m.Tags), data: m.Data}))
            .find((m) => m.tags.Action === "Published-Response")
        return typeof reply?.data === "string" ? reply.data : undefined
    }
}

interface PublishedReplica {
    /** The last result applied. */
    cursor: string | undefined
    values: Map<string, string>
    /** Keys already asked of the process, so an unpublished key is not asked on every poll. */
    asked: Set<string>
}

/** The `cache` entries of the `patch@1.0` messages an evaluation sent, lowercased as HyperBEAM stores keys. */
function patchesIn(result: AoResult): Array<[string, string]> {
    const entries: Array<[string, string]> = []
    for (const message of result.Messages ?? []) {
        const tags = message.Tags as Array<Tag | {name: string; value: unknown}>
        if (!tags.some((tag) => tag.name.toLowerCase() === "device" && tag.value === "patch@1.0")) continue
        const cache = tags.find((tag) => tag.name.toLowerCase() === "cache")?.value
        const values = typeof cache === "string" ? parseObject(cache) : cache
        if (values == null || typeof values !== "object") continue
        for (const [key, value] of Object.entries(values as Record<string, unknown>))
            entries.push([key.toLowerCase(), typeof value === "string" ? value : JSON.stringify(value)])
    }
    return entries
}

function parseObject(text: string): unknown {
    try {
        return JSON.parse(text)
    } catch {
        return undefined
    }
}

async function inOrder<T>(ports: readonly AoPort[], call: (port: AoPort) => Promise<T>, movesOn: (error: unknown) => boolean): Promise<T> {
    let last: unknown
    for (const port of ports) {
        try {
            return await call(port)
        } catch (error) {
            if (!movesOn(error) || ports.length === 1) throw error
            last = error
        }
    }
    throw last
}

function isConnectionError(error: unknown): boolean {
    const text = `${error instanceof Error ? error.message : String(error)} ${String((error as {cause?: unknown})?.cause ?? "")}`
    return /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|socket hang up/i.test(text)
}
