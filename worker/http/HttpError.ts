import type {ServerResponse} from "node:http"

const TYPES: Record<number, string> = {
    400: "invalid_request_error",
    402: "payment_required_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error"
}

/** A request the endpoint answers with an OpenAI-shaped error: `{"error": {message, type, code, ...extra}}`. */
export class HttpError extends Error {
    public override readonly name = "HttpError"

    public constructor(
        public readonly status: number,
        public readonly code: string,
        message: string,
        /** More fields of the error object (`param`, `required`) and response headers. */
        public readonly extra: {fields?: Record<string, string | null>; headers?: Record<string, string>} = {}
    ) {
        super(message)
    }

    public get body() {
        return {error: {message: this.message, type: TYPES[this.status] ?? "server_error", code: this.code, ...this.extra.fields}}
    }
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const bytes = Buffer.from(JSON.stringify(body))
    response.writeHead(status, {"Content-Type": "application/json", "Content-Length": String(bytes.length), ...headers})
    response.end(bytes)
}

export function sendError(response: ServerResponse, error: HttpError) {
    sendJson(response, error.status, error.body, error.extra.headers)
}
