import {connect, createSigner} from "@permaweb/aoconnect"
import type {AoResult, AoTransport, MessageRef, Tag} from "./types.ts"
import {NodeRefusedError, withFailover} from "./nodeFailover.ts"

export interface MainnetTransportOptions {
    /** HyperBEAM node URLs, tried in order on connection errors and 5xx answers. */
    nodes: readonly string[]
    /** The scheduler new processes use, and the authority they trust. */
    scheduler: string
    /** The wallet (JWK) that signs every request. */
    wallet: unknown
}

/** aoconnect's mainnet `request`: signs `fields` as an ANS-104 item and POSTs it to the node, resolving with the raw Response. */
type NodeRequest = (fields: Record<string, unknown>) => Promise<Response>

/** What every message-shaped request carries, as aoconnect's own mainnet `message` sends it. */
const SIGNED_JSON = {method: "POST", "signing-format": "ans104", "accept-bundle": "true", "require-codec": "application/json"}

/**
 * AO mainnet: a HyperBEAM node, through aoconnect's mainnet mode. Requests are
 * built as aoconnect's `spawn`/`message`/`result`/`dryrun` build them, but sent
 * through its `request` so that the node's status code decides between
 * failing over (connection error, 5xx) and reporting its refusal (4xx).
 */
export function mainnetTransport({nodes, scheduler, wallet}: MainnetTransportOptions): AoTransport {
    // createSigner is rate-limited per key, so one signer serves every node.
    const signer = createSigner(wallet as never)
    const requests = new Map<string, NodeRequest>(
        nodes.map((node) => [
            node,
            (connect({MODE: "mainnet", URL: node, SCHEDULER: scheduler, signer} as never) as unknown as {request: NodeRequest}).request
        ])
    )
    const request = (node: string, fields: Record<string, unknown>) => requests.get(node)!(fields)
    const json = async (response: Response) => (await response.json()) as Record<string, unknown>

    return {
        async spawn({module, scheduler: processScheduler, authority, tags, data}) {
            return await withFailover(
                nodes,
                (node) =>
                    request(node, {
                        path: "/push",
                        device: "process@1.0",
                        "scheduler-device": "scheduler@1.0",
                        "push-device": "push@1.0",
                        "execution-device": "genesis-wasm@1.0",
                        Authority: authority,
                        Scheduler: processScheduler,
                        Module: module,
                        data: data ?? "1984",
                        ...record(tags),
                        Type: "Process",
                        "Data-Protocol": "ao",
                        Variant: "ao.N.1",
                        method: "POST",
                        "signing-format": "ans104",
                        "accept-bundle": "true",
                        "accept-codec": "httpsig@1.0"
                    }),
                async (response, node) => {
                    const process = response.headers.get("process")
                    if (!response.ok || process == null) throw new NodeRefusedError(node, response.status, await response.text())
                    return process
                }
            )
        },

        async message({process, tags, data}) {
            return await withFailover(
                nodes,
                (node) =>
                    request(node, {
                        path: `/${process}~process@1.0/push`,
                        target: process,
                        data: data ?? "1984",
                        ...record(tags),
                        Type: "Message",
                        "Data-Protocol": "ao",
                        Variant: "ao.N.1",
                        ...SIGNED_JSON
                    }),
                async (response, node) => messageRef(await ok(response, node).then(json))
            )
        },

        async postSigned({process, item, id}) {
            return await withFailover(
                nodes,
                (node) =>
                    fetch(`${node}/${process}~process@1.0/push`, {
                        method: "POST",
                        headers: {"content-type": "application/ans104", "codec-device": "ans104@1.0", accept: "application/json"},
                        body: new Uint8Array(item)
                    }),
                async (response, node) => ({...messageRef(await ok(response, node).then(json)), id})
            )
        },

        async result({process, message}) {
            const at = message.slot ?? message.id
            return await withFailover(
                nodes,
                (node) =>
                    request(node, {
                        path: `/${process}~process@1.0/compute/results=${at}`,
                        target: process,
                        data: "1984",
                        ...SIGNED_JSON
                    }),
                async (response, node) => resultOf(await ok(response, node).then(json))
            )
        },

        async dryrun({process, tags, data}) {
            const query = tags.map(({name, value}) => `&${name}=${encodeURIComponent(value)}`).join("")
            return await withFailover(
                nodes,
                (node) =>
                    request(node, {
                        path: `/${process}~process@1.0/as=execution/compute${query}`,
                        target: process,
                        data: data ?? "1984",
                        ...SIGNED_JSON
                    }),
                async (response, node) => resultOf(await ok(response, node).then(json))
            )
        },

        async published({process, key}) {
            return await withFailover(
                nodes,
                (node) => fetch(`${node}/${process}~process@1.0/now/cache/${key}`),
                async (response) => {
                    if (response.status === 404) return undefined
                    return await response.text()
                }
            )
        }
    }
}

/** Tags as request fields; aoconnect's mainnet functions take them the same way. */
function record(tags: Tag[]): Record<string, string> {
    return Object.fromEntries(tags.map(({name, value}) => [name, value]))
}

async function ok(response: Response, node: string): Promise<Response> {
    if (response.status === 404) throw new NodeRefusedError(node, 404, await response.text())
    return response
}

/** The slot (and id, where the node says it) of a pushed message, read as aoconnect's `message` reads it. */
function messageRef(body: Record<string, unknown>): MessageRef {
    const slot = Number(body.slot)
    if (!Number.isInteger(slot)) throw new Error(`The node's answer to a push has no slot: ${JSON.stringify(body).slice(0, 200)}`)
    const id = body.id ?? body.messageId ?? (body.message as {id?: unknown} | undefined)?.id
    return {id: typeof id === "string" ? id : `slot-${slot}`, slot}
}

/** A compute result as aoconnect's `normalizeOutput` reads it: the evaluation is the body's `raw`. */
function resultOf(body: Record<string, unknown>): AoResult {
    const raw = (body.raw ?? {}) as AoResult
    return {Output: raw.Output ?? {}, Messages: raw.Messages ?? [], Spawns: raw.Spawns ?? [], Error: raw.Error}
}
