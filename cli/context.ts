import {Option, type Command} from "commander"
import type {NetworkConnection, NetworkConfig} from "../sdk/network/index.ts"
import {UserError} from "./errors.ts"

/** Options every network command shares. */
export interface NetworkOptions {
    network: string
    wallet?: string
    json?: boolean
}

/** Adds `--network`, `--wallet` and `--json` to a command. */
export function withNetworkOptions(command: Command): Command {
    return command
        .addOption(new Option("--network <name>", "devnet, legacy, or a network JSON file").env("WEAVELM_NETWORK").default("devnet"))
        .addOption(new Option("--wallet <file>", "Arweave wallet (JWK) that signs; defaults to the network's dev wallet").env("WEAVELM_WALLET"))
        .option("--json", "print machine-readable JSON")
}

/** Loads the network and the signing wallet the options name. */
export async function openConnection(options: NetworkOptions): Promise<NetworkConnection> {
    const [{connectNetwork, resolveNetwork}, {readWallet}] = await Promise.all([
        import("../sdk/network/index.ts"), import("../sdk/wallet/index.ts")
    ])
    const config = await resolveNetwork(options.network)
    const walletFile = options.wallet ?? config.wallet
    if (walletFile == null)
        throw new UserError(`Network "${config.name}" names no default wallet`, "pass --wallet FILE or set WEAVELM_WALLET")
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
