import {EscrowClient, quoteMaxFee, type InferAccepted, type TaskRecord} from "../escrow/index.ts"
import {connectNetwork, resolveNetwork, type NetworkConfig, type NetworkConnection, type ProcessIds} from "../network/index.ts"
import {RegistryClient} from "../registry/index.ts"
import {TokenClient} from "../token/index.ts"
import {readWallet, type ArweaveJwk} from "../wallet/index.ts"

export interface ConnectWeaveLMOptions {
    /** `devnet`, `legacy`, a network file path, or a loaded config. Defaults to `"devnet"`. */
    network?: string | NetworkConfig
    /** A wallet file path or a loaded key. Defaults to the network's default wallet (the devnet names its dev wallet). */
    wallet?: string | ArweaveJwk
}

export interface InferOptions {
    /** Model-Id or registered name. */
    model: string
    /** Prompt text, or chat messages (sent with `format: "chat"`). */
    prompt: string | Array<{role: "system" | "user" | "assistant"; content: string}>
    /** Defaults to `256`. */
    maxTokens?: number
    /** `0` is greedy. Defaults to `0`. */
    temperature?: number
    /** Defaults to `0`. */
    seed?: number
    /** Defaults to `40`. */
    topK?: number
    /** Defaults to `1`. */
    topP?: number
    /** Defaults to `"chat"` for a message list, else `"text"`. */
    format?: "text" | "chat"
    /** The most to pay, in base units. Defaults to a quote that covers every worker serving the model. */
    maxFee?: string
    signal?: AbortSignal
    onAccepted?: (accepted: InferAccepted) => void
}

export interface InferOutput {
    output: string
    taskId: string
    worker: string
    fee: string
    receiptTx: string
    challengeDeadline: number
}

/** A wallet's handle on weavelm: ask for completions, follow tasks, manage the escrow balance. */
export class WeaveLM {
    public readonly connection: NetworkConnection
    public readonly escrow: EscrowClient
    public readonly registry: RegistryClient

    public constructor(connection: NetworkConnection, processes: ProcessIds) {
        this.connection = connection
        this.escrow = new EscrowClient(connection.ao, {escrow: processes.escrow, token: processes.token})
        this.registry = new RegistryClient(connection.ao, processes.registry)
    }

    public get address() {
        return this.connection.address
    }

    /** Asks a model for a completion, paid from the escrow balance, and waits for the answer. */
    public async infer(options: InferOptions): Promise<InferOutput> {
        const format = options.format ?? (typeof options.prompt === "string" ? "text" : "chat")
        const prompt = typeof options.prompt === "string" ? options.prompt : JSON.stringify(options.prompt)
        const maxTokens = options.maxTokens ?? 256
        const maxFee = options.maxFee ?? (await this.quote(options.model, prompt, maxTokens))
        const result = await this.escrow.infer(
            {
                model: options.model,
                prompt,
                format,
                maxTokens,
                maxFee,
                temperature: options.temperature,
                seed: options.seed,
                topK: options.topK,
                topP: options.topP
            },
            {signal: options.signal, onAccepted: options.onAccepted}
        )
        return {
            output: result.output,
            taskId: result.taskId,
            worker: result.worker,
            fee: result.fee,
            receiptTx: result.receiptTx,
            challengeDeadline: result.challengeDeadline
        }
    }

    /** The Max-Fee that covers a request on any eligible worker serving the model. */
    public async quote(model: string, prompt: string, maxTokens: number): Promise<string> {
        const record = await this.registry.model(model)
        if (record == null) throw new Error(`No model "${model}" in the registry`)
        const fee = quoteMaxFee({
            model: record,
            workers: await this.registry.workers(record.id),
            promptBytes: Buffer.byteLength(prompt),
            maxTokens
        })
        if (fee == null) throw new Error(`No eligible worker serves model "${model}"`)
        return fee
    }

    public async task(id: string): Promise<TaskRecord | null> {
        return await this.escrow.task(id)
    }

    public async deposit(quantity: string) {
        await this.escrow.deposit(quantity)
    }

    public async withdraw(quantity: string) {
        await this.escrow.withdraw(quantity)
    }

    /** Token balance of the wallet and its escrow balance. */
    public async balance(): Promise<{token: string; available: string; locked: string}> {
        const [token, escrow] = await Promise.all([
            new TokenClient(this.connection.ao, this.escrow.token).balance(this.address),
            this.escrow.balance()
        ])
        return {token, ...escrow}
    }
}

/** Opens a network with a wallet: `const client = await connectWeaveLM({ network, wallet })`. */
export async function connectWeaveLM({network = "devnet", wallet}: ConnectWeaveLMOptions = {}): Promise<WeaveLM> {
    const config = typeof network === "string" ? await resolveNetwork(network) : network
    const walletSource = wallet ?? config.wallet
    if (walletSource == null) throw new Error(`Network "${config.name}" names no default wallet; pass one`)
    const jwk = typeof walletSource === "string" ? await readWallet(walletSource) : walletSource
    const {token, registry, escrow} = config.processes ?? {}
    if (token == null || registry == null || escrow == null)
        throw new Error(`weavelm is not deployed on network "${config.name}"; run \`weavelm deploy\``)
    return new WeaveLM(connectNetwork(config, jwk), {token, registry, escrow})
}
