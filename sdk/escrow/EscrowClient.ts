import {z} from "zod"
import {AoProcessError, followOutbox, latestCursor, type AoClient, type ProcessReply} from "../ao/index.ts"
import {TaskRecordSchema, type TaskRecord} from "./schemas.ts"

/** What a requester asks for; see docs/protocol.md (escrow, Infer). */
export interface InferRequest {
    /** Model-Id or registered name. */
    model: string
    /** The prompt text; for `chat`, a JSON list of `{role, content}` (or pass `messages`). */
    prompt: string
    /** Defaults to `256`. */
    maxTokens?: number
    /** `0` is greedy. Defaults to `0`. */
    temperature?: number
    /** Defaults to `40`. */
    topK?: number
    /** Defaults to `1`. */
    topP?: number
    /** Seeds sampling when temperature > 0. Defaults to `0`. */
    seed?: number
    /** Defaults to `"text"`. */
    format?: "text" | "chat"
    /** The most to pay, in token base units. */
    maxFee: string
}

export interface InferAccepted {
    taskId: string
    worker: string
    deadline: number
}

/** A finished task as the requester receives it in `Infer-Result`. */
export interface InferResult {
    taskId: string
    output: string
    worker: string
    fee: string
    receiptTx: string
    receiptHash: string
    inputTokens: number
    outputTokens: number
    challengeDeadline: number
}

/** The escrow gave up on a task (no worker answered in time) and refunded it. */
export class TaskRefundedError extends Error {
    public override readonly name = "TaskRefundedError"
    public readonly taskId: string

    public constructor(taskId: string, reason: string) {
        super(`Task ${taskId} was refunded: ${reason}`)
        this.taskId = taskId
    }
}

/** The escrow process as one wallet uses it: deposits, tasks and their results. */
export class EscrowClient {
    private readonly _ao: AoClient
    public readonly process: string
    public readonly token: string

    public constructor(ao: AoClient, {escrow, token}: {escrow: string, token: string}) {
        this._ao = ao
        this.process = escrow
        this.token = token
    }

    /** Moves tokens from the wallet into its escrow balance. */
    public async deposit(quantity: string) {
        return await this._ao.send(this.token, {Action: "Transfer", Recipient: this.process, Quantity: quantity, "X-Action": "Deposit"})
    }

    public async withdraw(quantity: string) {
        return await this._ao.send(this.process, {Action: "Withdraw", Quantity: quantity})
    }

    public async balance(address = this._ao.address): Promise<{available: string, locked: string}> {
        const reply = await this._ao.read(this.process, {Action: "Balance", Recipient: address})
        return {available: reply.tags.Balance ?? "0", locked: reply.tags.Locked ?? "0"}
    }

    /** Sends `Infer`, paid from the deposit; resolves when the escrow accepted it and chose a worker. */
    public async submit(request: InferRequest): Promise<InferAccepted> {
        const {emitted} = await this._ao.send(this.process, {
            Action: "Infer",
            Model: request.model,
            "Max-Tokens": request.maxTokens,
            Temperature: request.temperature,
            "Top-K": request.topK,
            "Top-P": request.topP,
            Seed: request.seed,
            Format: request.format,
            "Max-Fee": request.maxFee
        }, request.prompt)
        const accepted = emitted.find((m) => m.tags.Action === "Infer-Accepted")
        if (accepted == null) throw new AoProcessError(`The escrow did not accept the request`, {process: this.process, action: "Infer"})
        return {taskId: accepted.tags["Task-Id"]!, worker: accepted.tags.Worker!, deadline: Number(accepted.tags.Deadline)}
    }

    /** Submits a request and waits for its `Infer-Result`. */
    public async infer(request: InferRequest, {signal, onAccepted}: {signal?: AbortSignal, onAccepted?: (accepted: InferAccepted) => void} = {}): Promise<InferResult> {
        const from = await latestCursor(this._ao.port, this.process) ?? null
        const accepted = await this.submit(request)
        onAccepted?.(accepted)
        return await this.waitForResult(accepted.taskId, {from, signal})
    }

    /**
     * Waits for the escrow's `Infer-Result` (or `Infer-Refunded`) for a task,
     * following the escrow's outbox from `from`.
     */
    public async waitForResult(taskId: string, {from, signal}: {from?: string | null, signal?: AbortSignal} = {}): Promise<InferResult> {
        const mine = (m: ProcessReply) => m.target === this._ao.address && m.tags["Task-Id"] === taskId &&
            (m.tags.Action === "Infer-Result" || m.tags.Action === "Infer-Refunded")
        for await (const message of followOutbox({port: this._ao.port, process: this.process, from, filter: mine, signal})) {
            if (message.tags.Action === "Infer-Refunded") throw new TaskRefundedError(taskId, message.tags.Error ?? "no reason given")
            return {
                taskId,
                output: message.data,
                worker: message.tags.Worker!,
                fee: message.tags.Fee!,
                receiptTx: message.tags["Receipt-Tx"]!,
                receiptHash: message.tags["Receipt-Hash"]!,
                inputTokens: Number(message.tags["Input-Tokens"]),
                outputTokens: Number(message.tags["Output-Tokens"]),
                challengeDeadline: Number(message.tags["Challenge-Deadline"])
            }
        }
        throw new Error(`Stopped waiting for task ${taskId}`)
    }

    /** A task by id; null when the escrow has none. */
    public async task(id: string): Promise<TaskRecord | null> {
        try {
            return TaskRecordSchema.parse(await this._ao.readJson(this.process, {Action: "Task", "Task-Id": id}))
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Task-Error") return null
            throw error
        }
    }

    public async tasks(filter: {requester?: string, worker?: string, state?: string, limit?: number} = {}): Promise<TaskRecord[]> {
        return z.array(TaskRecordSchema).parse(await this._ao.readJson(this.process, {
            Action: "Tasks", Requester: filter.requester, Worker: filter.worker, State: filter.state, Limit: filter.limit
        }))
    }

    /** Asks the escrow to settle every task whose challenge window has passed, or the one named. */
    public async settle(taskId?: string) {
        return await this._ao.send(this.process, {Action: "Settle", "Task-Id": taskId})
    }
}
