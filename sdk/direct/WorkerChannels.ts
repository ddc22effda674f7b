import {requestFeeBound, type ChannelClient, type ChannelClosing} from "../channel/index.ts"
import type {ModelRecord} from "../registry/index.ts"
import type {ArweaveJwk} from "../wallet/index.ts"
import {feeTermsOf, type WorkerCandidate} from "./rankWorkers.ts"
import type {DirectClientOptions} from "./types.ts"
import {WorkerChannel} from "./WorkerChannel.ts"

export interface WorkerChannelsOptions extends Pick<DirectClientOptions, "budget" | "boundsPerChannel" | "onEvent"> {
    channels: ChannelClient
    wallet: ArweaveJwk
    model: ModelRecord
}

/**
 * The client's channels, one per worker: opened for the model with the budget
 * on the first request to a worker, topped up by as much again when a request
 * needs more than is deposited, and closed together.
 */
export class WorkerChannels {
    private readonly _options: WorkerChannelsOptions
    private readonly _open = new Map<string, Promise<WorkerChannel>>()

    public constructor(options: WorkerChannelsOptions) {
        this._options = options
    }

    /** The channel with a worker, opened on first use. */
    public channelWith(candidate: WorkerCandidate): Promise<WorkerChannel> {
        const worker = candidate.record.address
        let channel = this._open.get(worker)
        if (channel == null) {
            channel = this._openChannel(candidate)
            this._open.set(worker, channel)
            // A failed open is tried again by the next request that needs this worker.
            channel.catch(() => this._open.delete(worker))
        }
        return channel
    }

    /** Starts closing every channel opened so far; resolves with each one's closing terms. */
    public async close(): Promise<ChannelClosing[]> {
        const opened = await Promise.all([...this._open.values()].map((channel) => channel.catch(() => null)))
        this._open.clear()
        const closing: ChannelClosing[] = []
        for (const channel of opened) if (channel != null) closing.push(await this._options.channels.close(channel.id))
        return closing
    }

    private async _openChannel(candidate: WorkerCandidate): Promise<WorkerChannel> {
        const {channels, model, onEvent} = this._options
        const worker = candidate.record.address
        const typical = requestFeeBound(feeTermsOf(candidate.record, model), {prompt: "x".repeat(512), maxTokens: 256})
        const funding = BigInt(this._options.budget ?? typical * BigInt(this._options.boundsPerChannel ?? 100))
        const quantity = funding > 0n ? funding : 1n
        const record = await channels.open({worker, quantity: quantity.toString(), model: model.id})
        onEvent?.({type: "channel.opened", worker, channel: record.id, deposited: record.deposited})
        return new WorkerChannel(record, {
            channels,
            wallet: this._options.wallet,
            topUpFor: (required, deposited) => (required - deposited > quantity ? required - deposited : quantity),
            onTopUp: (topped) => onEvent?.({type: "channel.topped-up", worker, channel: topped.id, deposited: topped.deposited})
        })
    }
}
