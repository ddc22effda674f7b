import {WorkerRecordSchema, type ModelRecord, type RegistryClient} from "../registry/index.ts"
import {DirectRequestError} from "./errors.ts"
import {openAiBaseUrl, rankWorkers, type WorkerCandidate} from "./rankWorkers.ts"
import type {DirectClientOptions} from "./types.ts"

export interface WorkerRosterOptions
    extends Pick<DirectClientOptions, "worker" | "endpoint" | "failureCooldownMs" | "registryRefreshMs" | "onEvent"> {
    registry: RegistryClient
    model: ModelRecord
}

/**
 * The workers a client sends to, in the order to try them: the one named, or
 * the workers serving the model as `rankWorkers` orders them, read again from
 * the registry in the background once the list grows old. A worker that failed
 * goes to the back of the order for a cooldown.
 */
export class WorkerRoster {
    private readonly _options: WorkerRosterOptions
    private readonly _failedAt = new Map<string, number>()
    private _candidates: WorkerCandidate[] = []
    private _candidatesAt = Date.now()
    private _refreshing?: Promise<void>

    private constructor(options: WorkerRosterOptions) {
        this._options = options
    }

    /** Reads the workers; throws `DirectRequestError` for a named worker that cannot serve the model. */
    public static async read(options: WorkerRosterOptions): Promise<WorkerRoster> {
        const roster = new WorkerRoster(options)
        roster._candidates = await roster._readCandidates()
        return roster
    }

    /** Whether the workers are picked among those serving the model, rather than named. */
    public get isAuto(): boolean {
        return this._options.worker == null || this._options.worker === "auto"
    }

    /** Workers in the order to try: the ranking, with those that failed recently moved to the end. */
    public order(): WorkerCandidate[] {
        this._refreshInBackground()
        const cooldown = this._options.failureCooldownMs ?? 60_000
        const now = Date.now()
        const failed = (c: WorkerCandidate) => now - (this._failedAt.get(c.record.address) ?? -Infinity) < cooldown
        return [...this._candidates.filter((c) => !failed(c)), ...this._candidates.filter(failed)]
    }

    public markFailed(worker: string, reason: string) {
        this._failedAt.set(worker, Date.now())
        this._options.onEvent?.({type: "worker.failed", worker, reason})
    }

    private _refreshInBackground() {
        if (this._refreshing != null || Date.now() - this._candidatesAt < (this._options.registryRefreshMs ?? 60_000)) return
        this._refreshing = this._readCandidates()
            .then(
                (candidates) => {
                    if (candidates.length > 0) this._candidates = candidates
                    this._candidatesAt = Date.now()
                },
                () => {}
            )
            .finally(() => (this._refreshing = undefined))
    }

    /** The workers to send to: the one named, or the ranked workers serving the model. */
    private async _readCandidates(): Promise<WorkerCandidate[]> {
        const {registry, model, worker: named} = this._options
        if (named == null || this.isAuto) return rankWorkers(await registry.workers(model.id), model, Date.now())
        const parsed = WorkerRecordSchema.safeParse(await registry.worker(named))
        if (!parsed.success) throw new DirectRequestError(`${named} is not a registered worker`, {status: 404, code: "worker_not_found"})
        const record = parsed.data
        if (!record.models.includes(model.id))
            throw new DirectRequestError(`Worker ${named} does not serve ${model.name}`, {status: 404, code: "model_not_served"})
        const baseUrl = openAiBaseUrl(this._options.endpoint ?? record.endpoint ?? "")
        if (baseUrl == null)
            throw new DirectRequestError(`Worker ${named} registered no HTTP endpoint; pass its URL`, {status: 503, code: "no_endpoint"})
        return [{record, baseUrl, score: 0}]
    }
}
