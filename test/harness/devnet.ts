import {mkdtemp, rm} from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import {Devnet, type DevnetMode} from "../../devnet/index.ts"
import type {DeployParameters} from "../../sdk/deploy/index.ts"
import {connectNetwork, type NetworkConnection} from "../../sdk/network/index.ts"
import {readWallet} from "../../sdk/wallet/index.ts"

export interface TestDevnet {
    devnet: Devnet
    /** The dev wallet's connection. */
    connection: NetworkConnection
    dataDir: string
    dispose(): Promise<void>
}

/** A devnet in this process on `port` (mainnet mode unless `mode` says), in a temporary data folder removed on dispose. */
export async function startTestDevnet(
    port: number,
    {parameters, mode}: {parameters?: DeployParameters; mode?: DevnetMode} = {}
): Promise<TestDevnet> {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "weavelm-test-devnet-"))
    const devnet = await Devnet.start({port, dataDir, parameters, mode})
    const connection = connectNetwork(devnet.network, await readWallet(path.join(dataDir, "wallets", "dev.json")))
    return {
        devnet,
        connection,
        dataDir,
        async dispose() {
            await devnet.dispose()
            await rm(dataDir, {recursive: true, force: true})
        }
    }
}
