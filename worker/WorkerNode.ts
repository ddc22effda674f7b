import {DEFAULT_CACHE_DIR} from "../sdk/network/index.ts"
import path from "node:path"
import {WorkerHttpServer, type WorkerHttpServerOptions} from "./http/index.ts"
import {Worker, type WorkerLogEvent, type WorkerOptions} from "./service/index.ts"

export interface WorkerNodeOptions extends Omit<WorkerOptions, "endpoint" | "onChannelNotice"> {
    /**
     * Public URL of the direct-mode endpoint, registered with the worker. Defaults to `http://HOST:PORT/v1` when `http` names a
     * fixed port, and to none otherwise: a free port (0) is known only once listening, after the worker has registered.
     */
    endpoint?: string
    /** Also serve direct mode, the OpenAI-compatible HTTP endpoint (docs/direct-mode.md). Defaults to none: AO tasks only. */
    http?: WorkerNodeHttpOptions
    /** How long `stop()` lets running AO tasks finish before handing them back to the escrow. Defaults to 30 s (`Worker.stop`). */
    stopGraceMs?: number
}

/** The HTTP server's options that are not the worker's own (its connection, models, prices and log). */
export interface WorkerNodeHttpOptions
    extends Omit<
        WorkerHttpServerOptions,
        "connection" | "processes" | "models" | "priceInput" | "priceOutput" | "log" | "capacity" | "stateDir"
    > {
    /** Completions served at once; more are answered 429. Defaults to the worker's `concurrency`. */
    capacity?: number
    /** Receipts and per-channel settlement state. Defaults to `<cacheDir>/direct/<address>`. */
    stateDir?: string
}

/** How a node starts its two parts; tests pass fakes. */
export interface WorkerNodeParts {
    startWorker(options: WorkerOptions): Promise<Pick<Worker, "address" | "servedModels" | "stop">>
    startHttp(options: WorkerHttpServerOptions): Promise<Pick<WorkerHttpServer, "receiveNotice" | "close">>
}

const REAL_PARTS: WorkerNodeParts = {
    startWorker: (options) => Worker.start(options),
    startHttp: (options) => WorkerHttpServer.start(options)
}

/**
 * One worker as `weavelm worker start` and `weavelm devnet --with-worker` run it: the AO `Worker` (which owns the
 * inference engine) and, in direct mode, its `WorkerHttpServer` generating with the same loaded models and hearing the
 * escrow's channel notices through the worker's inbox. `stop()` takes both down in the order their resources need.
 */
export class WorkerNode {
    /** The worker's wallet address. */
    public readonly address: string
    readonly #worker: Pick<Worker, "stop">
    readonly #http: Pick<WorkerHttpServer, "close"> | undefined
    readonly #stopGraceMs: number | undefined
    readonly #log: (event: WorkerLogEvent) => void
    #stopped?: Promise<void>

    private constructor(
        worker: Pick<Worker, "address" | "stop">,
        http: Pick<WorkerHttpServer, "close"> | undefined,
        {stopGraceMs, log = () => {}}: Pick<WorkerNodeOptions, "stopGraceMs" | "log">
    ) {
        this.address = worker.address
        this.#worker = worker
        this.#http = http
        this.#stopGraceMs = stopGraceMs
        this.#log = log
    }

    /**
     * Resolves once the worker is registered and listening for tasks and, with `http`, the endpoint is listening. The worker
     * starts first: the endpoint serves the models it loads. When the endpoint cannot start, the worker is stopped at once.
     */
    public static async start(options: WorkerNodeOptions, parts: WorkerNodeParts = REAL_PARTS): Promise<WorkerNode> {
        const {http: httpOptions, endpoint, stopGraceMs, ...workerOptions} = options
        const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR
        const host = httpOptions?.host ?? "127.0.0.1"
        const fixedPort = httpOptions != null && httpOptions.port !== 0
        // A notice that arrives before the endpoint listens is dropped: the endpoint reads its saved channels from the escrow as it starts.
        let http: Awaited<ReturnType<WorkerNodeParts["startHttp"]>> | undefined
        const worker = await parts.startWorker({
            ...workerOptions,
            cacheDir,
            endpoint: endpoint ?? (fixedPort ? `http://${host}:${httpOptions.port}/v1` : undefined),
            onChannelNotice: (message) => http?.receiveNotice(message)
        })
        if (httpOptions != null) {
            http = await parts
                .startHttp({
                    ...httpOptions,
                    host,
                    connection: options.connection,
                    processes: options.processes,
                    models: worker.servedModels,
                    priceInput: options.priceInput,
                    priceOutput: options.priceOutput,
                    log: options.log,
                    capacity: httpOptions.capacity ?? options.concurrency ?? 1,
                    stateDir: httpOptions.stateDir ?? path.join(cacheDir, "direct", worker.address)
                })
                .catch(async (error: unknown) => {
                    await worker.stop({graceMs: 0})
                    throw error
                })
        }
        return new WorkerNode(worker, http, {stopGraceMs, log: options.log})
    }

    /**
     * Stops the endpoint (running requests finish, every channel is settled), then the worker (running tasks finish within
     * `stopGraceMs` or are handed back, and the engine is disposed). The endpoint goes first because it generates with the
     * worker's models. Calling it again waits for the same stop.
     */
    public stop(): Promise<void> {
        this.#stopped ??= this.#stop()
        return this.#stopped
    }

    async #stop() {
        this.#log({level: "info", event: "worker.stopping", message: "stopping: finishing running tasks and settling channels"})
        try {
            await this.#http?.close()
        } finally {
            await this.#worker.stop({graceMs: this.#stopGraceMs})
        }
    }
}
