import {z} from "zod"
import {AoProcessError, type AoClient, type SentMessage} from "../ao/index.ts"
import {TokenClient} from "../token/index.ts"
import {
    ModelRecordSchema,
    StakerRecordSchema,
    WorkerRecordSchema,
    type ModelRecord,
    type StakerRecord,
    type WorkerRecord
} from "./schemas.ts"

/** What `Register-Model` takes; see docs/protocol.md. */
export interface ModelRegistration {
    modelId: string
    sha256: string
    name: string
    format: string
    architecture: string
    quantization: string
    parameters: number
    contextLength: number
    license: string
    /** Basis points of each task fee paid to the model owner. */
    ownerFee: number
}

/** What a worker offers, as `Register-Worker` and `Update-Worker` take it. */
export interface WorkerTerms {
    /** Model-Ids served. */
    models: string[]
    /** Token base units per 1000 input tokens. */
    priceInput: string
    /** Token base units per 1000 output tokens. */
    priceOutput: string
    maxConcurrency: number
    hardware: string
    /** Direct mode's OpenAI-compatible endpoint, when the worker serves one. */
    endpoint?: string
}

const RegistryInfoSchema = z.object({
    Token: z.string().optional(),
    Escrow: z.string().optional(),
    "Min-Stake": z.string(),
    "Unstake-Cooldown": z.coerce.number(),
    "Heartbeat-Timeout": z.coerce.number()
})

/** The registry's parameters (`Info`). */
export interface RegistryParameters {
    token?: string
    escrow?: string
    minStake: string
    unstakeCooldown: number
    heartbeatTimeout: number
}

/** The registry process, read and written through one wallet. */
export class RegistryClient {
    private readonly _ao: AoClient
    public readonly process: string

    public constructor(ao: AoClient, process: string) {
        this._ao = ao
        this.process = process
    }

    /**
     * Registers this wallet as a worker, or updates its terms when it is registered already.
     * Resolves with which of the two happened.
     */
    public async registerWorker(terms: WorkerTerms): Promise<"registered" | "updated"> {
        const tags = {
            Models: terms.models.join(","),
            "Price-Input": terms.priceInput,
            "Price-Output": terms.priceOutput,
            "Max-Concurrency": terms.maxConcurrency,
            Hardware: terms.hardware,
            Endpoint: terms.endpoint
        }
        try {
            await this._ao.send(this.process, {Action: "Register-Worker", ...tags})
            return "registered"
        } catch (error) {
            if (!(error instanceof AoProcessError && /already registered/i.test(error.message))) throw error
            await this._ao.send(this.process, {Action: "Update-Worker", ...tags})
            return "updated"
        }
    }

    /** Adds `quantity` to this wallet's stake: a token transfer to the registry with `X-Action=Stake`. */
    public async stake(token: string, quantity: string): Promise<SentMessage> {
        return await new TokenClient(this._ao, token).transfer(this.process, quantity, {Action: "Stake"})
    }

    public async heartbeat(): Promise<SentMessage> {
        return await this._ao.send(this.process, {Action: "Heartbeat"})
    }

    /** Starts the cooldown of `quantity` of the stake (all of it when undefined); resolves with when it can be withdrawn. */
    public async unstake(quantity?: string): Promise<{quantity: string; availableAt: number}> {
        const {emitted} = await this._ao.send(this.process, {Action: "Unstake", Quantity: quantity})
        const notice = z
            .object({Quantity: z.string(), "Available-At": z.coerce.number()})
            .parse(emitted.find((m) => m.tags.Action === "Unstake-Notice")?.tags)
        return {quantity: notice.Quantity, availableAt: notice["Available-At"]}
    }

    /** Takes back the stake whose cooldown has passed. */
    public async withdraw(): Promise<SentMessage> {
        return await this._ao.send(this.process, {Action: "Withdraw"})
    }

    public async parameters(): Promise<RegistryParameters> {
        const tags = RegistryInfoSchema.parse((await this._ao.read(this.process, {Action: "Info"})).tags)
        return {
            token: tags.Token,
            escrow: tags.Escrow,
            minStake: tags["Min-Stake"],
            unstakeCooldown: tags["Unstake-Cooldown"],
            heartbeatTimeout: tags["Heartbeat-Timeout"]
        }
    }

    public async registerModel(model: ModelRegistration) {
        await this._ao.send(this.process, {
            Action: "Register-Model",
            "Model-Id": model.modelId,
            "SHA-256": model.sha256,
            Name: model.name,
            Format: model.format,
            Architecture: model.architecture,
            Quantization: model.quantization,
            Parameters: model.parameters,
            "Context-Length": model.contextLength,
            License: model.license,
            "Owner-Fee": model.ownerFee
        })
    }

    /** A model by Model-Id or Name; null when the registry has none. */
    public async model(ref: string): Promise<ModelRecord | null> {
        const byId = /^[A-Za-z0-9_-]{43}$/.test(ref)
        try {
            const reply = await this._ao.read(this.process, {Action: "Model", ...(byId ? {"Model-Id": ref} : {Name: ref})})
            return ModelRecordSchema.parse(JSON.parse(reply.data))
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Model-Error") return null
            throw error
        }
    }

    public async models(): Promise<ModelRecord[]> {
        return z.array(ModelRecordSchema).parse(await this._ao.readJson(this.process, {Action: "Models"}))
    }

    public async workers(model?: string): Promise<WorkerRecord[]> {
        return z.array(WorkerRecordSchema).parse(await this._ao.readJson(this.process, {Action: "Workers", Model: model}))
    }

    /** A worker by address (or a staker not registered yet); null when unknown. */
    public async worker(address: string): Promise<WorkerRecord | StakerRecord | null> {
        try {
            return StakerRecordSchema.or(WorkerRecordSchema).parse(
                await this._ao.readJson(this.process, {Action: "Worker", Address: address})
            )
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Worker-Error") return null
            throw error
        }
    }
}
