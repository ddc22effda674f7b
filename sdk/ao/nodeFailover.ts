import {WeaveLMError} from "../errors/index.ts"

/** Every node of a network was tried and none answered; the message names them and the last failure. */
export class NodesUnreachableError extends WeaveLMError {
    public override readonly name = "NodesUnreachableError"
    public override readonly kind = "remote"
    public readonly nodes: readonly string[]

    public constructor(nodes: readonly string[], lastFailure: string) {
        super(`No AO node answered (${nodes.join(", ")}): ${lastFailure}`)
        this.nodes = nodes
    }
}

/** A node answered, but refused the request (a 4xx); the message carries what it said. */
export class NodeRefusedError extends WeaveLMError {
    public override readonly name = "NodeRefusedError"
    public override readonly kind = "remote"
    public readonly status: number

    public constructor(node: string, status: number, body: string) {
        super(`${node} refused the request (HTTP ${status}): ${body.slice(0, 300) || "no reason given"}`)
        this.status = status
    }
}

/**
 * Runs `call` against each node in order until one answers: a connection error
 * or a 5xx moves on to the next node, since another node can serve the same
 * process; a 4xx is the network's answer and is thrown as `NodeRefusedError`.
 */
export async function withFailover<T>(
    nodes: readonly string[],
    call: (node: string) => Promise<Response>,
    read: (response: Response, node: string) => Promise<T>
): Promise<T> {
    let lastFailure = "no node configured"
    for (const node of nodes) {
        let response: Response
        try {
            response = await call(node)
        } catch (error) {
            lastFailure = `${node}: ${describeFailure(error)}`
            continue
        }
        if (response.status >= 500) {
            lastFailure = `${node}: HTTP ${response.status} ${(await response.text().catch(() => "")).slice(0, 200)}`
            continue
        }
        if (response.status >= 400 && response.status !== 404)
            throw new NodeRefusedError(node, response.status, await response.text().catch(() => ""))
        return await read(response, node)
    }
    throw new NodesUnreachableError(nodes, lastFailure)
}

function describeFailure(error: unknown): string {
    const cause = (error as {cause?: {code?: string; cause?: {code?: string}}} | undefined)?.cause
    const code = cause?.code ?? cause?.cause?.code
    const message = error instanceof Error ? error.message : String(error)
    return code != null ? `${message} (${code})` : message
}
