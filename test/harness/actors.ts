import path from "node:path"
import {publishModel, writeTestModel, type PresetName} from "../../model-publisher/index.ts"
import {connectNetwork, type NetworkConnection} from "../../sdk/network/index.ts"
import {RegistryClient} from "../../sdk/registry/index.ts"
import {generateWallet, writeWallet} from "../../sdk/wallet/index.ts"
import type {TestDevnet} from "./devnet.ts"

/** A new wallet on the test devnet, funded with `tokens` from the dev wallet and written to `<dataDir>/wallets/<name>.json`. */
export async function fundedActor(net: TestDevnet, name: string, tokens: string): Promise<NetworkConnection & {walletFile: string}> {
    const jwk = await generateWallet()
    const walletFile = path.join(net.dataDir, "wallets", `${name}.json`)
    await writeWallet(walletFile, jwk)
    const connection = connectNetwork(net.devnet.network, jwk)
    await net.connection.ao.send(net.devnet.processes.token, {Action: "Transfer", Recipient: connection.address, Quantity: tokens})
    return Object.assign(connection, {walletFile})
}

/** Writes a generated model and publishes it from the dev wallet. */
export async function publishTestModel(
    net: TestDevnet,
    {
        name,
        preset = "tiny",
        seed = 1,
        ownerFee = 0
    }: {
        name: string
        preset?: PresetName
        seed?: number
        ownerFee?: number
    }
) {
    const file = path.join(net.dataDir, "models", `${name}.gguf`)
    await writeTestModel({preset, seed, path: file})
    const dev = net.connection
    return await publishModel({
        file,
        name,
        ownerFee,
        owner: dev.address,
        registry: new RegistryClient(dev.ao, net.devnet.processes.registry),
        storage: dev.storage(path.join(net.dataDir, "uploads"))
    })
}
