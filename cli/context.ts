import {Option, type Command} from "commander"
import type {NetworkConnection, NetworkConfig, NetworkOverrides} from "../sdk/network/index.ts"
import {NETWORK_OVERRIDE_VARIABLES} from "../sdk/network/resolveNetwork.ts"
import {UserError} from "./errors.ts"

/** Options every network command shares. */
export interface NetworkOptions extends NetworkOverrides {
    network: string
    wallet?: string
    json?: boolean
}

const OVERRIDES: Record<keyof NetworkOverrides, string> = {
    node: "HyperBEAM node URL(s), comma-separated, tried in order (mainnet networks)",
    mu: "MU URL(s), comma-separated (legacy networks)",
    cu: "CU URL(s), comma-separated (legacy networks)",
    gateway: "Arweave gateway URL (downloads, GraphQL)",
    bundler: "upload service for ANS-104 data items (mainnet networks)",
    scheduler: "scheduler address new processes use"
}

/** Adds `--network`, `--wallet`, the URL overrides and `--json` to a command. */
export function withNetworkOptions(command: Command): Command {
    command
        .addOption(
            new Option("--network <name>", "devnet, mainnet, legacy, or a network JSON file").env("WEAVELM_NETWORK").default("devnet")
        )
        .addOption(
            new Option("--wallet <file>", "Arweave wallet (JWK) that signs; defaults to the network's dev wallet").env("WEAVELM_WALLET")
        )
    for (const [name, description] of Object.entries(OVERRIDES) as Array<[keyof NetworkOverrides, string]>)
        command.addOption(new Option(`--${name} <url>`, description).env(NETWORK_OVERRIDE_VARIABLES[name]))
    return command.option("--json", "print machine-readable JSON")
}

/** The network the options name, with their overrides applied. */
export async function openNetwork(options: NetworkOptions): Promise<NetworkConfig> {
    const {resolveNetwork} = await import("../sdk/network/index.ts")
    const {node, mu, cu, gateway, bundler, scheduler} = options
    return await resolveNetwork(options.network, {overrides: {node, mu, cu, gateway, bundler, scheduler}})
}

/** Loads the network and the signing wallet the options name. */
export async function openConnection(options: NetworkOptions): Promise<NetworkConnection> {
    const [{connectNetwork}, {readWallet}] = await Promise.all([import("../sdk/network/index.ts"), import("../sdk/wallet/index.ts")])
    const config = await openNetwork(options)
    // An empty WEAVELM_WALLET means none, as an unset one does.
    const walletFile = options.wallet || config.wallet
    if (walletFile == null) {
        throw new UserError(
            `Network "${config.name}" names no default wallet`,
            "pass --wallet FILE or set WEAVELM_WALLET; `weavelm wallet create FILE` makes one (fund it with tokens before use)"
        )
    }
    return connectNetwork(config, await readWallet(walletFile))
}

/** The deployed process ids of a network, or a clear error naming what is missing. */
export function requireProcesses(config: NetworkConfig) {
    const {token, registry, escrow} = config.processes ?? {}
    if (token == null || registry == null || escrow == null)
        throw new UserError(`weavelm is not deployed on network "${config.name}"`, "run `weavelm deploy` first")
    return {token, registry, escrow}
}

/** Writes one JSON document as a single line. */
export function printJson(value: unknown) {
    process.stdout.write(JSON.stringify(value) + "\n")
}
