import {stat} from "node:fs/promises"
import type {Tag} from "../../sdk/ao/index.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import type {ModelRecord, RegistryClient} from "../../sdk/registry/index.ts"
import type {StorageBackend, TransferProgress} from "../../sdk/storage/index.ts"
import {inspectModel, type ModelSummary} from "../inspect/index.ts"
import {sha256File} from "../sha256File.ts"

/** The file or the request cannot be published; nothing was uploaded. */
export class PublishError extends WeaveLMError {
    public override readonly name = "PublishError"
    public override readonly kind = "user"
}

export interface PublishModelOptions {
    file: string
    /** Registry name: 1-64 characters of letters, digits, `.`, `_` and `-`. */
    name: string
    /** Defaults to `"unspecified"`. */
    license?: string
    /** Basis points of each task fee paid to the owner, 0-10000. Defaults to `0`. */
    ownerFee?: number
    storage: StorageBackend
    registry: RegistryClient
    /** The publishing wallet's address: a name it already holds may be reused. */
    owner: string
    onStage?: (stage: "inspecting" | "hashing" | "uploading" | "registering") => void
    onProgress?: (progress: TransferProgress) => void
}

export interface PublishedModel {
    modelId: string
    sha256: string
    name: string
    summary: ModelSummary
    /** True when the same weights were already registered under this name, so nothing was uploaded. */
    alreadyPublished: boolean
}

/**
 * Puts GGUF weights on Arweave and registers them: checks the file is a
 * readable GGUF and that the name is ours to use before uploading anything,
 * uploads with the model's metadata as tags, then sends `Register-Model`.
 */
export async function publishModel({
    file,
    name,
    license = "unspecified",
    ownerFee = 0,
    storage,
    registry,
    owner,
    onStage = () => {},
    onProgress
}: PublishModelOptions): Promise<PublishedModel> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new PublishError(`Model name "${name}" must be 1-64 letters, digits, ".", "_" or "-"`)
    if (!Number.isInteger(ownerFee) || ownerFee < 0 || ownerFee > 10_000)
        throw new PublishError(`Owner fee must be an integer number of basis points from 0 to 10000, got ${ownerFee}`)
    await stat(file).catch(() => {
        throw new PublishError(`No such file: ${file}`)
    })

    onStage("inspecting")
    const summary = await inspectModel(file).catch((error: unknown) => {
        throw new PublishError(`${file} is not a readable GGUF model: ${error instanceof Error ? error.message : String(error)}`)
    })

    onStage("hashing")
    const sha256 = await sha256File(file)
    const existing = await registry.model(name)
    if (existing != null && existing.owner !== owner)
        throw new PublishError(`The name "${name}" is registered to ${existing.owner}; choose another`)
    if (existing != null && existing.sha256 === sha256) return {modelId: existing.id, sha256, name, summary, alreadyPublished: true}

    const quantization = quantizationOf(summary)
    const tags: Tag[] = [
        {name: "Content-Type", value: "application/octet-stream"},
        {name: "App-Name", value: "weavelm"},
        {name: "Type", value: "Model"},
        {name: "Model-Name", value: name},
        {name: "Model-Format", value: "GGUF"},
        {name: "Architecture", value: summary.architecture},
        {name: "Quantization", value: quantization},
        {name: "Parameter-Count", value: String(summary.parameterCount)},
        {name: "Context-Length", value: String(summary.contextLength)},
        {name: "SHA-256", value: sha256},
        {name: "License", value: license}
    ]
    onStage("uploading")
    const {id} = await storage.uploadFile({file, tags, onProgress})

    onStage("registering")
    await registry.registerModel({
        modelId: id,
        sha256,
        name,
        format: "GGUF",
        architecture: summary.architecture,
        quantization,
        parameters: summary.parameterCount,
        contextLength: summary.contextLength,
        license,
        ownerFee
    })
    return {modelId: id, sha256, name, summary, alreadyPublished: false}
}

/** llama.cpp's file type name without its prefix: `MOSTLY_Q8_0` → `Q8_0`, `ALL_F32` → `F32`. */
export function quantizationOf(summary: Pick<ModelSummary, "fileTypeName">): string {
    return summary.fileTypeName?.replace(/^(MOSTLY|ALL)_/, "") ?? "unknown"
}

export type {ModelRecord}
