import path from "node:path"
import {pullModel} from "../../model-publisher/index.ts"
import type {ProcessReply} from "../../sdk/ao/index.ts"
import {EscrowClient} from "../../sdk/escrow/index.ts"
import {DEFAULT_CACHE_DIR, type NetworkConnection, type ProcessIds} from "../../sdk/network/index.ts"
import {encodeReceipt} from "../../sdk/receipt/index.ts"
import {RegistryClient, type ModelRecord} from "../../sdk/registry/index.ts"
import type {StorageBackend} from "../../sdk/storage/index.ts"
import {InferenceEngine, type LoadedModel} from "../engine/index.ts"
import {parseAssignment, type Assignment} from "./assignment.ts"
import {buildReceipt} from "./buildReceipt.ts"
import {RefereeDuty} from "./RefereeDuty.ts"
import type {WorkerLogEvent} from "./WorkerLogEvent.ts"
import {WorkerState} from "./WorkerState.ts"

export interface WorkerOptions {
    connection: NetworkConnection
    processes: ProcessIds
    /** Model-Ids or registered names to serve. */
    models: string[]
    /** Token base units per 1000 input tokens. */
    priceInput: string
    /** Token base units per 1000 output tokens. */
    priceOutput: string
    /** Total stake to hold in the registry; topped up on start when below. */
    stake: string
    /** Tasks run at once, as sequences of one context per model. Defaults to `1`. */
    concurrency?: number
    /** Defaults to `"auto"`: CUDA or Vulkan where present, else CPU. */
    gpu?: "auto" | "cuda" | "vulkan" | "cpu"
    /** CPU threads. Defaults to the engine's choice (1 on CPU; see worker/engine). */
    threads?: number
    /** Model cache and worker state live here. Defaults to `.weavelm`. */
    cacheDir?: string
    /** Hardware description registered with the worker. Defaults to the engine's backend and GPU. */
    hardware?: string
    endpoint?: string
    /** Time between heartbeats. Defaults to a third of the registry's Heartbeat-Timeout. */
    heartbeatMs?: number
    /**
     * Time between polls of this worker's inbox at the escrow: the mean wait before a task starts is half of it.
     * Defaults to `100` ms (one small GET of published state on mainnet).
     */
    pollMs?: number
    storage?: StorageBackend
    log?: (event: WorkerLogEvent) => void
    /** Receives the escrow's channel notices to this worker (Channel-Opened, -Closing, -Closed, Voucher-Redeemed), for direct mode. */
    onChannelNotice?: (message: ProcessReply) => void
}

interface RunningTask {
    assignment: Assignment
    abort: AbortController
    done: Promise<void>
}

/**
 * `weavelm worker`: stakes and registers, keeps its heartbeat, receives tasks
 * from its inbox at the escrow, runs them on node-llama-cpp, stores each receipt on
 * Arweave and answers `Task-Result` (or `Task-Failed`); on a referee committee
 * it re-checks challenged tasks and votes (`RefereeDuty`); when its own result
 * is challenged it sends its part of the committee's seed (`Dispute-Seed`) at
 * once, since a worker that stays silent leaves the draw to the challenger. A restart resumes from
 * the persisted cursor and the escrow's list of this worker's open tasks, so
 * no assignment is missed or run twice.
 */
export class Worker {
    public readonly address: string
    private readonly _options: WorkerOptions
    private readonly _escrow: EscrowClient
    private readonly _registry: RegistryClient
    private readonly _storage: StorageBackend
    private readonly _log: (event: WorkerLogEvent) => void
    private readonly _running = new Map<string, RunningTask>()
    private readonly _queue: Assignment[] = []
    /** Challenges this worker has seeded (or is seeding): its inbox and the list of its challenged tasks can both name one. */
    private readonly _seeded = new Set<string>()
    private readonly _stopping = new AbortController()
    private _engine?: InferenceEngine
    private _models = new Map<string, {record: ModelRecord; loaded: LoadedModel}>()
    private _state?: WorkerState
    private _heartbeat?: NodeJS.Timeout
    private _follower?: Promise<void>
    private _referee?: RefereeDuty

    private constructor(options: WorkerOptions) {
        this._options = options
        this.address = options.connection.address
        this._escrow = new EscrowClient(options.connection.ao, {escrow: options.processes.escrow, token: options.processes.token})
        this._registry = new RegistryClient(options.connection.ao, options.processes.registry)
        this._storage = options.storage ?? options.connection.storage(path.join(options.cacheDir ?? DEFAULT_CACHE_DIR, "uploads"))
        this._log = options.log ?? (() => {})
    }

    /** Starts a worker and resolves once it is registered and listening for tasks. */
    public static async start(options: WorkerOptions): Promise<Worker> {
        const worker = new Worker(options)
        try {
            await worker._start()
        } catch (error) {
            await worker._dispose()
            throw error
        }
        return worker
    }

    /** The models this worker serves, loaded; direct mode generates with them too. */
    public get servedModels(): ReadonlyArray<{record: ModelRecord; loaded: LoadedModel}> {
        return [...this._models.values()]
    }

    /** Tasks running now. */
    public get activeTasks(): string[] {
        return [...this._running.keys()]
    }

    /**
     * Stops taking tasks, gives running ones `graceMs` to finish, hands the rest
     * back to the escrow with `Task-Failed`, and releases the engine.
     */
    public async stop({graceMs = 30_000}: {graceMs?: number} = {}) {
        if (this._stopping.signal.aborted) return
        this._stopping.abort()
        clearInterval(this._heartbeat)
        await this._follower
        await this._referee?.stop()
        this._queue.length = 0
        const finished = Promise.all([...this._running.values()].map((task) => task.done))
        const timedOut = await Promise.race([finished.then(() => false), sleep(graceMs).then(() => true)])
        if (timedOut) {
            for (const task of this._running.values()) task.abort.abort()
            await finished
        }
        await this._dispose()
        this._emit("info", "worker.stopped", "worker stopped")
    }

    private async _start() {
        const {connection} = this._options
        const cacheDir = this._options.cacheDir ?? DEFAULT_CACHE_DIR
        const state = await WorkerState.load(path.join(cacheDir, "worker"), this.address)
        this._state = state

        this._engine = await InferenceEngine.create({gpu: this._options.gpu ?? "auto", threads: this._options.threads})
        const engineInfo = this._engine.engineInfo()
        for (const ref of this._options.models) {
            const pulled = await pullModel({ref, registry: this._registry, gateway: connection.config.gateway, cacheDir})
            const loaded = await this._engine.loadModel(pulled.path, {
                sequences: this._options.concurrency ?? 1,
                threads: this._options.threads
            })
            this._models.set(pulled.model.id, {record: pulled.model, loaded})
            this._emit("info", "model.loaded", `serving ${pulled.model.name} (${pulled.model.id})`, {model: pulled.model.id})
        }

        // Where to start reading: a new worker needs nothing assigned before it registered.
        const startCursor = state.cursor ?? (await this._escrow.inboxCursor())
        await this._ensureStake()
        const registration = await this._register(this._options.hardware ?? [engineInfo.backend, engineInfo.gpu].filter(Boolean).join(" "))
        // Only Register-Worker counts as a heartbeat: back from a stop longer than Heartbeat-Timeout, this worker would otherwise be
        // passed over for tasks and committees until its first timed beat, a third of that timeout after it says it is ready.
        if (registration === "updated") await this._registry.heartbeat()

        const heartbeatMs = this._options.heartbeatMs ?? (await this._defaultHeartbeatMs())
        this._heartbeat = setInterval(() => void this._sendHeartbeat(), heartbeatMs)
        this._heartbeat.unref()

        await this._resumeAssigned()
        void this._resumeSeeding()
        this._referee = new RefereeDuty({
            address: this.address,
            escrow: this._escrow,
            registry: this._registry,
            gateway: connection.config.gateway,
            cacheDir,
            storage: this._storage,
            engine: this._engine,
            log: (level, event, message, fields) => this._emit(level, event, message, fields),
            served: (sha256) => [...this._models.values()].find(({record}) => record.sha256 === sha256)?.loaded
        })
        // Referee requests whose answer a stop cut short, like the assignments above.
        void this._referee
            .resume()
            .catch((error) => this._emit("warn", "referee.resume-failed", `could not list open disputes: ${describe(error)}`))
        this._follower = this._follow(startCursor)
        this._emit("info", "worker.ready", `worker ${this.address} ready`, {heartbeatMs})
    }

    /** Assignments that arrived while this worker was down, or that left its inbox unread, or whose run a crash cut short. */
    private async _resumeAssigned() {
        for (const task of await this._escrow.tasks({worker: this.address, state: "Assigned", limit: 1000})) {
            if (task.worker === this.address && !this._state!.hasFinished(task.id) && !this._isQueuedOrRunning(task.id))
                this._enqueueFromRecord(task.id)
        }
    }

    /** Challenges of this worker's results still waiting for its seed: arrived while it was down, or left its inbox unread. */
    private async _resumeSeeding() {
        try {
            for (const task of await this._escrow.tasks({worker: this.address, state: "Challenged", limit: 1000})) {
                const dispute = task.dispute
                if (task.worker === this.address && dispute?.stage === "Seeding" && dispute.workerSeed == null)
                    await this._seedDispute(task.id, dispute.id)
            }
        } catch (error) {
            this._emit("warn", "dispute.resume-failed", `could not list challenges of this worker's results: ${describe(error)}`)
        }
    }

    /** Sends this worker's seed for a challenge of its result; a refusal (seeded already, Seed-Deadline passed) is logged. */
    private async _seedDispute(taskId: string, challengeId: string) {
        if (this._seeded.has(challengeId)) return
        this._seeded.add(challengeId)
        try {
            await this._escrow.seedDispute({taskId, challengeId})
            this._emit("info", "dispute.seeded", `task ${taskId} is challenged (${challengeId}): seed sent`, {taskId, challengeId})
        } catch (error) {
            this._emit("warn", "dispute.seed-refused", `could not seed challenge ${challengeId} of task ${taskId}: ${describe(error)}`, {
                taskId,
                challengeId
            })
        }
    }

    private _isQueuedOrRunning(taskId: string) {
        return this._running.has(taskId) || this._queue.some((a) => a.taskId === taskId)
    }

    private async _ensureStake() {
        const record = await this._registry.worker(this.address)
        const have = BigInt(record?.stake ?? "0")
        const want = BigInt(this._options.stake)
        if (have >= want) return
        const topUp = (want - have).toString()
        await this._registry.stake(this._options.processes.token, topUp)
        this._emit("info", "worker.staked", `staked ${topUp} more (total ${want})`, {stake: want.toString()})
    }

    private async _register(hardware: string) {
        const models = [...this._models.keys()]
        const registration = await this._registry.registerWorker({
            models,
            priceInput: this._options.priceInput,
            priceOutput: this._options.priceOutput,
            maxConcurrency: this._options.concurrency ?? 1,
            hardware,
            endpoint: this._options.endpoint
        })
        this._emit("info", "worker.registered", `registered for ${models.join(",")}`)
        return registration
    }

    private async _defaultHeartbeatMs() {
        const {heartbeatTimeout} = await this._registry.parameters()
        return Math.max(1000, Math.floor(heartbeatTimeout / 3))
    }

    private async _sendHeartbeat() {
        try {
            await this._registry.heartbeat()
        } catch (error) {
            this._emit("warn", "worker.heartbeat-failed", `heartbeat failed: ${describe(error)}`)
        }
    }

    private async _follow(from: number) {
        const onGap = async () => {
            this._emit("warn", "worker.inbox-gap", "messages left the inbox unread; re-reading open assignments and disputes")
            await this._resumeAssigned()
            await this._resumeSeeding()
            await this._referee!.resume()
        }
        try {
            for await (const message of this._escrow.inbox({
                from,
                pollMs: this._options.pollMs ?? 100,
                signal: this._stopping.signal,
                onGap
            })) {
                const taskId = message.tags["Task-Id"] ?? ""
                if (CHANNEL_NOTICES.has(message.tags.Action ?? "")) {
                    this._options.onChannelNotice?.(message)
                } else if (message.tags.Action === "Referee-Request") {
                    this._referee!.receive(message)
                } else if (message.tags.Action === "Challenge-Accepted" && message.tags.Worker === this.address) {
                    void this._seedDispute(taskId, message.tags["Challenge-Id"] ?? "")
                } else if (message.tags.Action === "Task-Revoked") {
                    this._running.get(taskId)?.abort.abort()
                    this._emit("warn", "task.revoked", `task ${taskId} was revoked`, {taskId})
                } else if (
                    message.tags.Action === "Task-Assigned" &&
                    !this._state!.hasFinished(taskId) &&
                    !this._isQueuedOrRunning(taskId)
                ) {
                    this._enqueue(parseAssignment(message))
                }
                await this._state!.advance(message.seq)
            }
        } catch (error) {
            if (!this._stopping.signal.aborted) this._emit("error", "worker.follow-failed", `stopped reading tasks: ${describe(error)}`)
        }
    }

    /** After a restart the assignment message is behind the cursor; the task record carries the same terms. */
    private _enqueueFromRecord(taskId: string) {
        void this._escrow.task(taskId).then((task) => {
            if (task == null || task.state !== "Assigned" || task.worker !== this.address) return
            // Only an Infer is ever Assigned, and its record carries the sampling.
            const {maxTokens, temperature, topK, topP, seed} = task
            if (maxTokens == null || temperature == null || topK == null || topP == null || seed == null) return
            this._enqueue({
                taskId: task.id,
                requester: task.requester,
                model: task.model,
                modelSha256: task.modelSha256 ?? "",
                sampling: {maxTokens, temperature, topK, topP, seed},
                format: task.format === "chat" ? "chat" : "text",
                deadline: task.deadline ?? 0,
                attempt: task.attempt,
                promptMessage: task.promptMessage,
                promptTx: task.promptTx,
                prompt: ""
            })
        })
    }

    private _enqueue(assignment: Assignment) {
        // The inbox and the open-task list can both announce one assignment.
        if (this._state!.hasFinished(assignment.taskId) || this._isQueuedOrRunning(assignment.taskId)) return
        this._queue.push(assignment)
        this._pump()
    }

    private _pump() {
        const capacity = this._options.concurrency ?? 1
        while (this._running.size < capacity && this._queue.length > 0 && !this._stopping.signal.aborted) {
            const assignment = this._queue.shift()!
            const abort = new AbortController()
            const done = this._run(assignment, abort.signal).finally(() => {
                this._running.delete(assignment.taskId)
                this._pump()
            })
            this._running.set(assignment.taskId, {assignment, abort, done})
        }
    }

    private async _run(assignment: Assignment, signal: AbortSignal) {
        const {taskId} = assignment
        const lines: string[] = []
        const note = (message: string) => lines.push(`${new Date().toISOString()} ${message}`)
        this._emit("info", "task.started", `task ${taskId} started`, {taskId})
        note(`assigned (attempt ${assignment.attempt}), deadline ${new Date(assignment.deadline).toISOString()}`)
        try {
            const served = this._models.get(assignment.model)
            if (served == null) throw new TaskFailure(`model ${assignment.model} is not served by this worker`)
            if (assignment.modelSha256 !== "" && served.record.sha256 !== assignment.modelSha256)
                throw new TaskFailure(`model ${assignment.model} hash differs from the task's`)
            const prompt = await this._prompt(assignment)

            const startedAt = Date.now()
            const generation = await served.loaded.generate({prompt, format: assignment.format, sampling: assignment.sampling, signal})
            note(
                `generated ${generation.outputTokens.length} tokens (${generation.stopReason}) in ${Math.round(generation.timings.generationMs)} ms`
            )
            if (signal.aborted) throw new TaskFailure("stopped before the result was sent")

            const receipt = buildReceipt({
                taskId,
                worker: this.address,
                model: served.record,
                prompt,
                format: assignment.format,
                promptMessage: assignment.promptMessage,
                promptTx: assignment.promptTx,
                sampling: assignment.sampling,
                generation,
                startedAt,
                log: lines
            })
            const {bytes, hash} = encodeReceipt(receipt)
            const {id: receiptTx} = await this._storage.uploadData(bytes, [
                {name: "Content-Type", value: "application/json"},
                {name: "App-Name", value: "weavelm"},
                {name: "Type", value: "Receipt"},
                {name: "Task-Id", value: taskId},
                {name: "Model-Id", value: served.record.id},
                {name: "Receipt-Hash", value: hash}
            ])
            await this._escrow.submitResult({
                taskId,
                output: generation.output,
                inputTokens: generation.inputTokens.length,
                outputTokens: generation.outputTokens.length,
                receiptTx,
                receiptHash: hash
            })
            await this._state!.markFinished(taskId)
            this._emit(
                "info",
                "task.completed",
                `task ${taskId} answered: ${generation.outputTokens.length} tokens, receipt ${receiptTx}`,
                {taskId, receiptTx, outputTokens: generation.outputTokens.length}
            )
        } catch (error) {
            await this._fail(assignment, describe(error))
        }
    }

    /** Hands a task back so the escrow can reassign it at once instead of waiting for the deadline. */
    private async _fail(assignment: Assignment, reason: string) {
        this._emit("warn", "task.failed", `task ${assignment.taskId} failed: ${reason}`, {taskId: assignment.taskId})
        try {
            await this._escrow.reportFailure(assignment.taskId, reason)
            await this._state!.markFinished(assignment.taskId)
        } catch (error) {
            // Revoked or already reassigned: the escrow no longer waits on us.
            this._emit("warn", "task.fail-report-refused", `could not report task ${assignment.taskId}: ${describe(error)}`, {
                taskId: assignment.taskId
            })
        }
    }

    private async _prompt(assignment: Assignment): Promise<string> {
        if (assignment.promptTx != null && assignment.promptTx !== "") {
            const response = await fetch(`${this._options.connection.config.gateway}/${assignment.promptTx}`)
            if (!response.ok) throw new TaskFailure(`prompt ${assignment.promptTx} not found on the gateway (HTTP ${response.status})`)
            return await response.text()
        }
        if (assignment.prompt !== "") return assignment.prompt
        if (assignment.promptMessage == null) throw new TaskFailure("the task carries no prompt")
        // After a restart the assignment is rebuilt from the task record, which holds no prompt: read it from its message.
        const response = await fetch(`${this._options.connection.config.gateway}/${assignment.promptMessage}`)
        if (!response.ok) throw new TaskFailure(`prompt message ${assignment.promptMessage} not found (HTTP ${response.status})`)
        return await response.text()
    }

    private async _dispose() {
        clearInterval(this._heartbeat)
        for (const {loaded} of this._models.values()) await loaded.dispose()
        this._models.clear()
        await this._engine?.dispose()
    }

    private _emit(level: WorkerLogEvent["level"], event: string, message: string, fields: Record<string, unknown> = {}) {
        this._log({level, event, message, ...fields})
    }
}

const CHANNEL_NOTICES = new Set(["Channel-Opened", "Channel-Closing", "Channel-Closed", "Voucher-Redeemed"])

/** A task that cannot be run as assigned; reported to the escrow with `Task-Failed`. */
class TaskFailure extends Error {
    public override readonly name = "TaskFailure"
}

function describe(error: unknown) {
    return error instanceof Error ? error.message : String(error)
}

function sleep(ms: number) {
    return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
