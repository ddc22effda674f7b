import {stat} from "node:fs/promises"
import path from "node:path"
import {publishModel, writeTestModel} from "../model-publisher/index.ts"
import {EscrowClient} from "../sdk/escrow/index.ts"
import {connectNetwork} from "../sdk/network/index.ts"
import {RegistryClient} from "../sdk/registry/index.ts"
import {TokenClient} from "../sdk/token/index.ts"
import {generateWallet, readWallet, writeWallet} from "../sdk/wallet/index.ts"
import {WorkerNode, type WorkerLogEvent} from "../worker/index.ts"
import type {Devnet} from "./Devnet.ts"

/** The model `--with-worker` publishes: the tiny generated preset, seed 1. */
export const DEVNET_MODEL_NAME = "tiny"
const WORKER_STAKE = "1000"
/** What the dev wallet keeps deposited in the escrow, so `weavelm infer` works at once. */
const DEV_DEPOSIT = "1000000000"

export interface DevnetWorkerOptions {
    onStep?: (step: string) => void
    log?: (event: WorkerLogEvent) => void
    /** CPU threads for the worker. Defaults to the engine's choice. */
    threads?: number
    /** Port of the worker's direct-mode HTTP endpoint (docs/direct-mode.md), on 127.0.0.1; registered as its endpoint. */
    httpPort: number
}

/** The devnet's worker: AO tasks, and direct-mode requests over HTTP. */
export interface DevnetWorker {
    /** The worker's wallet address. */
    address: string
    /** Its direct-mode endpoint, `http://127.0.0.1:<httpPort>/v1`, as registered. */
    endpoint: string
    /** Lets running requests finish and settles channels, gives running tasks 10 s before handing them back, releases the engine. */
    stop(): Promise<void>
}

/**
 * What `weavelm devnet --with-worker` adds: the tiny test model published and
 * registered, a worker wallet funded from the dev wallet, one worker serving
 * the model over AO and over HTTP, and a deposit so the dev wallet can ask at
 * once. Each step is skipped when a restart finds it done.
 */
export async function startDevnetWorker(
    devnet: Devnet,
    {onStep = () => {}, log, threads, httpPort}: DevnetWorkerOptions
): Promise<DevnetWorker> {
    const dev = connectNetwork(devnet.network, await readWallet(path.join(devnet.dataDir, "wallets", "dev.json")))
    const registry = new RegistryClient(dev.ao, devnet.processes.registry)

    if ((await registry.model(DEVNET_MODEL_NAME)) == null) {
        const file = path.join(devnet.dataDir, "models", "tiny-seed1.gguf")
        if (
            !(await stat(file).then(
                () => true,
                () => false
            ))
        ) {
            onStep("generating the tiny test model")
            await writeTestModel({preset: "tiny", seed: 1, path: file})
        }
        onStep(`publishing the test model as "${DEVNET_MODEL_NAME}"`)
        await publishModel({
            file,
            name: DEVNET_MODEL_NAME,
            license: "CC0-1.0",
            storage: dev.storage(path.join(devnet.dataDir, "uploads")),
            registry,
            owner: dev.address
        })
    }

    const workerWalletFile = path.join(devnet.dataDir, "wallets", "worker.json")
    const workerWallet = await readWallet(workerWalletFile).catch(async () => {
        const jwk = await generateWallet()
        await writeWallet(workerWalletFile, jwk)
        return jwk
    })
    const workerConnection = connectNetwork(devnet.network, workerWallet)
    const token = new TokenClient(dev.ao, devnet.processes.token)
    const staked = await registry.worker(workerConnection.address)
    if (staked == null && BigInt(await token.balance(workerConnection.address)) < BigInt(WORKER_STAKE)) {
        onStep("funding the worker wallet")
        await token.transfer(workerConnection.address, WORKER_STAKE)
    }

    const escrow = new EscrowClient(dev.ao, devnet.processes)
    if (BigInt((await escrow.balance()).available) === 0n) {
        onStep("depositing devnet tokens into the escrow for the dev wallet")
        await escrow.deposit(DEV_DEPOSIT)
    }

    onStep("starting the worker")
    const endpoint = `http://127.0.0.1:${httpPort}/v1`
    const node = await WorkerNode.start({
        connection: workerConnection,
        processes: devnet.processes,
        models: [DEVNET_MODEL_NAME],
        priceInput: "1000",
        priceOutput: "2000",
        stake: WORKER_STAKE,
        concurrency: 2,
        threads,
        cacheDir: devnet.dataDir,
        endpoint,
        http: {port: httpPort},
        stopGraceMs: 10_000,
        log
    })
    return {address: node.address, endpoint, stop: () => node.stop()}
}
