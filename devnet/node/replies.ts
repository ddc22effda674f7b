import type http from "node:http"

/** A request the node refuses or cannot serve; answered as `{error}` with `status`. */
export class NodeHttpError extends Error {
    public override readonly name = "NodeHttpError"
    public readonly status: number

    public constructor(status: number, message: string) {
        super(message)
        this.status = status
    }
}

/** Browsers post `application/ans104` bodies cross-origin, as they do to HyperBEAM nodes, which allow any origin. */
export const CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-expose-headers": "*"
}

export function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const payload = Buffer.from(JSON.stringify(body))
    response.writeHead(status, {...CORS_HEADERS, ...headers, "content-type": "application/json", "content-length": payload.length})
    response.end(payload)
}

export function sendText(response: http.ServerResponse, text: string, headers: Record<string, string> = {}) {
    const payload = Buffer.from(text)
    response.writeHead(200, {...CORS_HEADERS, ...headers, "content-length": payload.length})
    response.end(payload)
}

export function readBody(request: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const parts: Buffer[] = []
        request.on("data", (part: Buffer) => parts.push(part))
        request.on("end", () => resolve(Buffer.concat(parts)))
        request.on("error", reject)
    })
}
