import {WeaveLMError} from "../errors/index.ts"

/**
 * A direct request failed before any of its answer was delivered; `status`,
 * `type` and `code` are what an OpenAI-compatible server answers with.
 */
export class DirectRequestError extends WeaveLMError {
    public override readonly name = "DirectRequestError"
    public override readonly kind = "remote"
    public readonly status: number
    public readonly type: string
    public readonly code: string

    public constructor(message: string, {status, type, code}: {status: number; type?: string; code: string}) {
        super(message)
        this.status = status
        this.type = type ?? (status < 500 ? "invalid_request_error" : "server_error")
        this.code = code
    }
}

/** A worker stopped answering in the middle of a streamed answer; the next request goes to another worker. */
export class WorkerDroppedError extends WeaveLMError {
    public override readonly name = "WorkerDroppedError"
    public override readonly kind = "remote"
    public readonly worker: string

    public constructor(worker: string, cause?: unknown) {
        super(`Worker ${worker} stopped in the middle of its answer`, {cause})
        this.worker = worker
    }
}
