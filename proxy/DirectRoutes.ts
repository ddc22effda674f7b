import {DirectClient, DirectRequestError, rankWorkers, type DirectClientOptions} from "../sdk/direct/index.ts"
import {RegistryClient, WorkerRecordSchema} from "../sdk/registry/index.ts"

export interface DirectRoutesOptions extends Omit<DirectClientOptions, "model"> {
    /** Send every request to this model (Model-Id or name), whatever the request names. Defaults to the model each request names. */
    model?: string
}

/**
 * The proxy's direct clients, one per model, created when a request first
 * names the model. With a fixed `model` every request goes to it, so an
 * application that asks for `gpt-4o-mini` works unchanged.
 */
export class DirectRoutes {
    private readonly _options: DirectRoutesOptions
    private readonly _registry: RegistryClient
    private readonly _clients = new Map<string, Promise<DirectClient>>()

    public constructor(options: DirectRoutesOptions) {
        this._options = options
        const registry = options.processes?.registry ?? options.connection.config.processes?.registry
        if (registry == null) throw new Error(`weavelm is not deployed on network "${options.connection.config.name}"`)
        this._registry = new RegistryClient(options.connection.ao, registry)
    }

    /** The client for a request's `model` field; throws `DirectRequestError` for a model no one serves. */
    public async route(requested: string | undefined): Promise<DirectClient> {
        const model = this._options.model ?? requested
        if (model == null || model === "") throw new DirectRequestError("The request names no model", {status: 400, code: "model_required"})
        let client = this._clients.get(model)
        if (client == null) {
            client = DirectClient.create({...this._options, model})
            this._clients.set(model, client)
            // A model unknown now may be registered later; ask again next time.
            client.catch(() => this._clients.delete(model))
        }
        return await client
    }

    /** Names of the models requests can be sent for: the fixed one, or those a worker serves over HTTP now. */
    public async models(): Promise<string[]> {
        if (this._options.model != null) return [(await this.route(this._options.model)).model.name]
        const [models, workers] = await Promise.all([this._registry.models(), this._servingWorkers()])
        return models.filter((model) => rankWorkers(workers, model, Date.now()).length > 0).map((model) => model.name)
    }

    private async _servingWorkers() {
        const named = this._options.worker
        if (named == null || named === "auto") return await this._registry.workers()
        const record = WorkerRecordSchema.safeParse(await this._registry.worker(named))
        if (!record.success) return []
        // A named worker may be reached at a URL its record does not carry.
        return [this._options.endpoint == null ? record.data : {...record.data, endpoint: this._options.endpoint}]
    }
}
