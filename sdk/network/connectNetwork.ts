import {connect, createDataItemSigner} from "@permaweb/aoconnect"
import Arweave from "arweave"
import {AoClient, legacyTransport, mainnetTransport, type AoPort, type AoTransport} from "../ao/index.ts"
import {ArweaveChunkedStorage, BundlerStorage, type RetryOptions, type StorageBackend} from "../storage/index.ts"
import {walletAddress, type ArweaveJwk} from "../wallet/index.ts"
import {splitUrls, type NetworkConfig} from "./NetworkConfig.ts"

/** A network's live clients for one wallet. */
export interface NetworkConnection {
    config: NetworkConfig
    ao: AoClient
    arweave: Arweave
    wallet: ArweaveJwk
    address: string
    /** Where this network's uploads go (receipts, prompts, reports, models), resumable from `stateDir`. */
    storage(stateDir: string, options?: {retry?: RetryOptions}): StorageBackend
}

/**
 * The one place that wires real clients: aoconnect in the network's mode (a
 * HyperBEAM node on mainnet, MU/CU on legacy) and arweave-js on the gateway.
 * Every network goes through here; nothing else knows the mode.
 */
export function connectNetwork(config: NetworkConfig, wallet: ArweaveJwk): NetworkConnection {
    const address = walletAddress(wallet)
    const ao = new AoClient({transport: transportFor(config, wallet, address), address})
    const gateway = new URL(config.gateway)
    const arweave = Arweave.init({
        host: gateway.hostname,
        port: Number(gateway.port || (gateway.protocol === "https:" ? 443 : 80)),
        protocol: gateway.protocol.replace(":", "")
    })
    return {
        config,
        ao,
        arweave,
        wallet,
        address,
        // Mainnet takes signed data items through a bundler; legacy posts L1 transactions through the gateway.
        storage: (stateDir, {retry} = {}) =>
            config.mode === "mainnet"
                ? new BundlerStorage({bundler: config.bundler, gateway: config.gateway, wallet, stateDir, retry})
                : new ArweaveChunkedStorage({arweave, wallet, stateDir, retry})
    }
}

function transportFor(config: NetworkConfig, wallet: ArweaveJwk, address: string): AoTransport {
    if (config.mode === "mainnet") return mainnetTransport({nodes: splitUrls(config.node), scheduler: config.scheduler, wallet})
    const mus = splitUrls(config.mu)
    const cus = splitUrls(config.cu)
    const ports = mus.map(
        (mu, i) =>
            connect({
                MODE: "legacy",
                MU_URL: mu,
                CU_URL: cus[Math.min(i, cus.length - 1)]!,
                GATEWAY_URL: config.gateway
            }) as unknown as AoPort
    )
    return legacyTransport({ports, mus, signer: createDataItemSigner(wallet as never), address})
}
