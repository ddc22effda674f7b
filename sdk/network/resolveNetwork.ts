import {readFile} from "node:fs/promises"
import path from "node:path"
import {z} from "zod"
import {readManifest} from "../deploy/manifest.ts"
import {DEFAULT_DEVNET_DIR} from "./defaults.ts"
import {LEGACY_NETWORK, NetworkConfigSchema, type NetworkConfig} from "./NetworkConfig.ts"


/** The network named cannot be loaded; the message says what to do. */
export class NetworkError extends Error {
    public override readonly name = "NetworkError"
}

export interface ResolveNetworkOptions {
    /** Folder relative names resolve against. Defaults to `process.cwd()`. */
    cwd?: string
}

/**
 * Loads a network by name: `devnet` (the default devnet's network file),
 * `legacy` (AO legacynet), or a path to a network JSON file. Process ids
 * missing from the file are taken from the deployment manifest
 * (`weavelm.deploy.<name>.json`) in the working directory or beside it.
 */
export async function resolveNetwork(spec: string, {cwd = process.cwd()}: ResolveNetworkOptions = {}): Promise<NetworkConfig> {
    if (spec === "legacy")
        return await withManifests({...LEGACY_NETWORK}, {besideFile: null, cwd})

    const file = spec === "devnet"
        ? path.resolve(cwd, DEFAULT_DEVNET_DIR, "network.json")
        : path.resolve(cwd, spec)

    let raw: string
    try {
        raw = await readFile(file, "utf8")
    } catch {
        if (spec === "devnet")
            throw new NetworkError(`No devnet found at ${path.dirname(file)}: start one with \`weavelm devnet\``)
        throw new NetworkError(`Unknown network "${spec}": not devnet, legacy, or a readable network file`)
    }
    const parsed = NetworkConfigSchema.safeParse(parseJson(raw, file))
    if (!parsed.success)
        throw new NetworkError(`Network file ${file} is invalid: ${z.prettifyError(parsed.error).replaceAll("\n", "; ")}`)

    const config = parsed.data
    if (config.wallet != null) config.wallet = path.resolve(path.dirname(file), config.wallet)
    return await withManifests(config, {besideFile: path.dirname(file), cwd})
}

/**
 * Process ids, last source winning: a manifest beside the network file, the
 * file's own ids, then the manifest of the user's latest `weavelm deploy` here.
 */
async function withManifests(config: NetworkConfig, {besideFile, cwd}: {besideFile: string | null, cwd: string}): Promise<NetworkConfig> {
    const beside = besideFile == null ? null : await readManifest(besideFile, config.name)
    const deployedHere = path.resolve(cwd) === besideFile ? null : await readManifest(cwd, config.name)
    return {...config, processes: {...beside?.processes, ...config.processes, ...deployedHere?.processes}}
}

function parseJson(raw: string, file: string): unknown {
    try {
        return JSON.parse(raw)
    } catch {
        throw new NetworkError(`Network file ${file} is not valid JSON`)
    }
}
