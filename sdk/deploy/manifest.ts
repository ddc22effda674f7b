import {readFile, rename, writeFile} from "node:fs/promises"
import path from "node:path"
import {z} from "zod"

export const PROCESS_NAMES = ["token", "registry", "escrow"] as const
export type ProcessName = (typeof PROCESS_NAMES)[number]

const ProcessEntrySchema = z.object({
    id: z.string(),
    /** SHA-256 of the bundled Lua last evaluated in the process. */
    codeHash: z.string()
})

export const DeployManifestSchema = z.object({
    network: z.string(),
    module: z.string(),
    /** Process ids by name; `token` may be an external token we did not deploy. */
    processes: z.object({token: z.string(), registry: z.string(), escrow: z.string()}),
    /** Code we deployed; absent for an external token. */
    code: z.record(z.string(), ProcessEntrySchema),
    parameters: z.record(z.string(), z.record(z.string(), z.string())),
    updatedAt: z.string()
})
export type DeployManifest = z.infer<typeof DeployManifestSchema>

export function manifestFile(dir: string, network: string) {
    return path.join(dir, `weavelm.deploy.${network}.json`)
}

/** Reads `weavelm.deploy.<network>.json` in `dir`, or null when there is none. */
export async function readManifest(dir: string, network: string): Promise<DeployManifest | null> {
    const file = manifestFile(dir, network)
    let raw: string
    try {
        raw = await readFile(file, "utf8")
    } catch {
        return null
    }
    const parsed = DeployManifestSchema.safeParse(JSON.parse(raw))
    if (!parsed.success) throw new Error(`Deployment manifest ${file} is invalid: ${z.prettifyError(parsed.error)}`)
    return parsed.data
}

/** Writes the manifest atomically: a crash never leaves half a file that loses process ids. */
export async function writeManifest(dir: string, manifest: DeployManifest): Promise<string> {
    const file = manifestFile(dir, manifest.network)
    await writeFile(file + ".tmp", JSON.stringify(manifest, null, 2) + "\n")
    await rename(file + ".tmp", file)
    return file
}
