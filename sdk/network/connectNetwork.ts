import {connect, createDataItemSigner} from "@permaweb/aoconnect"
import Arweave from "arweave"
import {AoClient, type AoPort} from "../ao/index.ts"
import {walletAddress, type ArweaveJwk} from "../wallet/index.ts"
import type {NetworkConfig} from "./NetworkConfig.ts"

/** A network's live clients for one wallet. */
export interface NetworkConnection {
    config: NetworkConfig
    ao: AoClient
    arweave: Arweave
    wallet: ArweaveJwk
    address: string
}

/**
 * The one place that wires real clients: aoconnect in legacy mode (MU/CU/
 * gateway URLs) and arweave-js on the gateway. Every network goes through here.
 */
export function connectNetwork(config: NetworkConfig, wallet: ArweaveJwk): NetworkConnection {
    const port = connect({MODE: "legacy", MU_URL: config.mu, CU_URL: config.cu, GATEWAY_URL: config.gateway}) as unknown as AoPort
    const address = walletAddress(wallet)
    const ao = new AoClient({port, signer: createDataItemSigner(wallet as never), address})
    const gateway = new URL(config.gateway)
    const arweave = Arweave.init({
        host: gateway.hostname,
        port: Number(gateway.port || (gateway.protocol === "https:" ? 443 : 80)),
        protocol: gateway.protocol.replace(":", "")
    })
    return {config, ao, arweave, wallet, address}
}
