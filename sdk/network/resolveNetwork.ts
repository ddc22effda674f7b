import {readFile} from "node:fs/promises"
import path from "node:path"
import {readManifest} from "../deploy/manifest.ts"
import {WeaveLMError} from "../errors/index.ts"
import {DEFAULT_DEVNET_DIR} from "./defaults.ts"
import {LEGACY_NETWORK, MAINNET_NETWORK, NetworkConfigSchema, type NetworkConfig} from "./NetworkConfig.ts"

/** The network named cannot be loaded; the message says what to do. */
export class NetworkError extends WeaveLMError {
    public override readonly name = "NetworkError"
    public override readonly kind = "user"
}

export interface ResolveNetworkOptions {
    /** Folder relative names resolve against. Defaults to `process.cwd()`. */
    cwd?: string
    /** URLs and addresses that replace the network's own (from flags or `WEAVELM_*` variables); undefined ones change nothing. */
    overrides?: NetworkOverrides
}

/** What a user may point elsewhere without writing a network file. */
export interface NetworkOverrides {
    node?: string
    mu?: string
    cu?: string
    gateway?: string
    bundler?: string
    scheduler?: string
}

/** The environment variable of each override. */
export const NETWORK_OVERRIDE_VARIABLES: Record<keyof NetworkOverrides, string> = {
    node: "WEAVELM_NODE",
    mu: "WEAVELM_MU",
    cu: "WEAVELM_CU",
    gateway: "WEAVELM_GATEWAY",
    bundler: "WEAVELM_BUNDLER",
    scheduler: "WEAVELM_SCHEDULER"
}

const MODE_FIELDS = {mainnet: ["node", "bundler"], legacy: ["mu", "cu"]} as const

/**
 * Loads a network by name: `devnet` (the default devnet's network file),
 * `mainnet` (AO on HyperBEAM), `legacy` (AO legacynet), or a path to a
 * network JSON file, then applies `overrides`. Process ids missing from the
 * file are taken from the deployment manifest (`weavelm.deploy.<name>.json`)
 * in the working directory or beside it.
 */
export async function resolveNetwork(
    spec: string,
    {cwd = process.cwd(), overrides = {}}: ResolveNetworkOptions = {}
): Promise<NetworkConfig> {
    const config = await loadNetwork(spec, cwd)
    return validated(withOverrides(config, overrides), `Network "${config.name}" with the given overrides`)
}

async function loadNetwork(spec: string, cwd: string): Promise<NetworkConfig> {
    if (spec === "mainnet") return await withManifests({...MAINNET_NETWORK}, {besideFile: null, cwd})
    if (spec === "legacy") return await withManifests({...LEGACY_NETWORK}, {besideFile: null, cwd})

    const file = spec === "devnet" ? path.resolve(cwd, DEFAULT_DEVNET_DIR, "network.json") : path.resolve(cwd, spec)

    let raw: string
    try {
        raw = await readFile(file, "utf8")
    } catch {
        if (spec === "devnet") throw new NetworkError(`No devnet found at ${path.dirname(file)}: start one with \`weavelm devnet\``)
        throw new NetworkError(`Unknown network "${spec}": not devnet, mainnet, legacy, or a readable network file`)
    }
    const config = validated(parseJson(raw, file), `Network file ${file}`)
    if (config.wallet != null) config.wallet = path.resolve(path.dirname(file), config.wallet)
    return await withManifests(config, {besideFile: path.dirname(file), cwd})
}

/**
 * Process ids, last source winning: a manifest beside the network file, the
 * file's own ids, then the manifest of the user's latest `weavelm deploy` here.
 */
async function withManifests(config: NetworkConfig, {besideFile, cwd}: {besideFile: string | null; cwd: string}): Promise<NetworkConfig> {
    const beside = besideFile == null ? null : await readManifest(besideFile, config.name)
    const deployedHere = path.resolve(cwd) === besideFile ? null : await readManifest(cwd, config.name)
    return {...config, processes: {...beside?.processes, ...config.processes, ...deployedHere?.processes}}
}

/** Replaces the fields the overrides name; one that the network's mode has no use for is an error, not ignored. */
function withOverrides(config: NetworkConfig, overrides: NetworkOverrides): unknown {
    const given = Object.entries(overrides).filter(([, value]) => value != null && value !== "") as Array<[keyof NetworkOverrides, string]>
    const foreign = config.mode === "mainnet" ? MODE_FIELDS.legacy : MODE_FIELDS.mainnet
    for (const [field] of given) {
        if ((foreign as readonly string[]).includes(field))
            throw new NetworkError(
                `--${field} (${NETWORK_OVERRIDE_VARIABLES[field]}) applies to ${config.mode === "mainnet" ? "legacy" : "mainnet"} networks; ` +
                    `"${config.name}" is a ${config.mode} network`
            )
    }
    return {...config, ...Object.fromEntries(given)}
}

/** A network checked against its schema; a missing or malformed field is named. */
function validated(value: unknown, what: string): NetworkConfig {
    const parsed = NetworkConfigSchema.safeParse(value)
    if (parsed.success) return parsed.data
    const problems = parsed.error.issues.map((issue) => {
        const field = issue.path.join(".")
        return field === ""
            ? issue.message
            : `${field}: ${issue.code === "invalid_type" && issue.input === undefined ? "missing" : issue.message}`
    })
    throw new NetworkError(`${what} is invalid: ${problems.join("; ")}`)
}

function parseJson(raw: string, file: string): unknown {
    try {
        return JSON.parse(raw)
    } catch {
        throw new NetworkError(`Network file ${file} is not valid JSON`)
    }
}
