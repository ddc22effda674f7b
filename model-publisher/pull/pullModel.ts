import {mkdir, rename, stat, unlink} from "node:fs/promises"
import path from "node:path"
import {arioReader, resolveArUrl, type ArnsReader} from "../../sdk/arns/index.ts"
import {WeaveLMError} from "../../sdk/errors/index.ts"
import type {ModelRecord, RegistryClient} from "../../sdk/registry/index.ts"
import {downloadFile, type RetryOptions, type TransferProgress} from "../../sdk/storage/index.ts"
import {sha256File} from "../sha256File.ts"

/** The model is unknown, or its bytes do not match what the registry says. */
export class PullError extends WeaveLMError {
    public override readonly name = "PullError"
    public override readonly kind = "user"
}

export interface PullModelOptions {
    /** Model-Id (Arweave tx), registered name, or `ar://` URL: an ArNS name or a tx id. */
    ref: string
    registry: RegistryClient
    gateway: string
    /** Cache root; models live in `<cacheDir>/models/<sha256>.gguf`. */
    cacheDir: string
    onProgress?: (progress: TransferProgress) => void
    retry?: RetryOptions
    /** Reads the ArNS names of `ar://` refs. Defaults to AR.IO mainnet's (`arioReader()`). */
    arns?: ArnsReader
}

export interface PulledModel {
    path: string
    sha256: string
    model: ModelRecord
    /** True when the file was already in the cache. */
    cached: boolean
}

/**
 * Fetches a registered model into the content-addressed cache. Downloads go
 * to a `.partial` file resumed with HTTP Range; only bytes whose SHA-256
 * matches the registry are renamed into place, so the cache never holds a
 * file under a hash it does not have.
 */
export async function pullModel({ref, registry, gateway, cacheDir, onProgress, retry, arns}: PullModelOptions): Promise<PulledModel> {
    // An ArNS name only says which transaction; the registry still vouches for its hash.
    const key = ref.startsWith("ar://") ? await resolveArUrl(ref, {ario: arns ?? arioReader()}) : ref
    const model = await registry.model(key)
    if (model == null) throw new PullError(`No model "${ref}" in the registry${key === ref ? "" : ` (${ref} points at ${key})`}`)

    const dir = path.join(cacheDir, "models")
    const file = path.join(dir, `${model.sha256}.gguf`)
    if (
        await stat(file).then(
            () => true,
            () => false
        )
    )
        return {path: file, sha256: model.sha256, model, cached: true}

    await mkdir(dir, {recursive: true})
    const partial = `${file}.partial`
    await downloadFile({gateway, id: model.id, destination: partial, onProgress, retry})
    const sha256 = await sha256File(partial)
    if (sha256 !== model.sha256) {
        await unlink(partial)
        throw new PullError(
            `Model ${model.name} (${model.id}) failed its hash check: got ${sha256}, the registry says ${model.sha256}; the download was deleted`
        )
    }
    await rename(partial, file)
    return {path: file, sha256, model, cached: false}
}
