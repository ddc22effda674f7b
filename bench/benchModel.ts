import {stat} from "node:fs/promises"
import path from "node:path"
import type {Devnet} from "../devnet/index.ts"
import {publishModel, writeTestModel, type PresetName, type WeightType} from "../model-publisher/index.ts"
import {connectNetwork, type NetworkConnection} from "../sdk/network/index.ts"
import {RegistryClient} from "../sdk/registry/index.ts"
import {readWallet} from "../sdk/wallet/index.ts"

/** A generated test model in the bench folder, written once and reused by every suite and run. */
export async function benchModel(
    workDir: string,
    log: (line: string) => void,
    {
        preset = "125m",
        type = "q8_0",
        seed = 1
    }: {
        preset?: PresetName
        type?: WeightType
        seed?: number
    } = {}
): Promise<string> {
    const file = path.join(workDir, `${preset}-${type}-seed${seed}.gguf`)
    if ((await stat(file).catch(() => null)) == null) {
        log(`writing the ${preset} ${type} test model`)
        await writeTestModel({preset, seed, type, path: file})
    }
    return file
}

/** Publishes a bench model to a devnet from its dev wallet, as a model owner would; returns the dev wallet's connection. */
export async function publishBenchModel(
    devnet: Devnet,
    dataDir: string,
    file: string,
    log: (line: string) => void
): Promise<NetworkConnection> {
    const dev = connectNetwork(devnet.network, await readWallet(path.join(dataDir, "wallets", "dev.json")))
    log("publishing the model to the devnet")
    await publishModel({
        file,
        name: "bench-125m",
        owner: dev.address,
        registry: new RegistryClient(dev.ao, devnet.processes.registry),
        storage: dev.storage(path.join(dataDir, "uploads"))
    })
    return dev
}
