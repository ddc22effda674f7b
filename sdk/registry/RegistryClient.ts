import {z} from "zod"
import {AoProcessError, type AoClient} from "../ao/index.ts"
import {ModelRecordSchema, StakerRecordSchema, WorkerRecordSchema, type ModelRecord, type StakerRecord, type WorkerRecord} from "./schemas.ts"

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

/** The registry process, read and written through one wallet. */
export class RegistryClient {
    private readonly _ao: AoClient
    public readonly process: string

    public constructor(ao: AoClient, process: string) {
        this._ao = ao
        this.process = process
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
            return StakerRecordSchema.or(WorkerRecordSchema).parse(await this._ao.readJson(this.process, {Action: "Worker", Address: address}))
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Worker-Error") return null
            throw error
        }
    }
}
