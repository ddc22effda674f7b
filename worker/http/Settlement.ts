import type {ChannelClient} from "../../sdk/channel/index.ts"
import {VoucherRedemptionError} from "../../sdk/channel/index.ts"
import type {StorageBackend} from "../../sdk/storage/index.ts"
import type {WorkerLogEvent} from "../service/index.ts"
import type {ChannelBook, ChannelEntry} from "./ChannelBook.ts"
import type {ReceiptStore} from "./ReceiptStore.ts"

export interface SettlementOptions {
    book: ChannelBook
    receipts: ReceiptStore
    channels: ChannelClient
    storage: StorageBackend
    worker: string
    /** Settle a channel once its latest voucher pays this much more than the channel has paid. */
    threshold: bigint
    /** Settle every channel with something to redeem this often. */
    intervalMs: number
    log: (level: WorkerLogEvent["level"], event: string, message: string, fields?: Record<string, unknown>) => void
}

/**
 * Turns a channel's latest voucher into tokens: one Receipt-Batch upload of the receipts answered
 * since the last settlement, then one Redeem-Voucher. Runs when a channel's unredeemed amount
 * reaches the threshold, on an interval, when the owner starts closing it, and on stop; never
 * twice at once for one channel.
 */
export class Settlement {
    readonly #options: SettlementOptions
    readonly #running = new Map<string, Promise<void>>()
    readonly #timer: NodeJS.Timeout

    public constructor(options: SettlementOptions) {
        this.#options = options
        this.#timer = setInterval(() => void this.settleAll("interval"), options.intervalMs)
        this.#timer.unref()
    }

    /** After each answered request: settles when the threshold is reached, or at once on a Closing channel. */
    public afterRequest(entry: ChannelEntry): void {
        const unredeemed = entry.latest == null ? 0n : BigInt(entry.latest.fields.cumulative) - entry.ledger.paid
        if (entry.record.state === "Closing") void this.settle(entry, "closing")
        else if (unredeemed >= this.#options.threshold) void this.settle(entry, "threshold")
    }

    /** Settles every channel that has something to redeem; resolves when all are done. */
    public async settleAll(reason: string): Promise<void> {
        await Promise.all(this.#options.book.unsettled().map((entry) => this.settle(entry, reason)))
    }

    /** Settles one channel; waits for one already running, then settles what arrived meanwhile. Never throws. */
    public async settle(entry: ChannelEntry, reason: string): Promise<void> {
        const id = entry.record.id
        const previous = this.#running.get(id) ?? Promise.resolve()
        const next = previous.then(() => this.#settle(entry, reason))
        this.#running.set(id, next)
        await next
        if (this.#running.get(id) === next) this.#running.delete(id)
    }

    /** Stops the interval and settles everything left. */
    public async stop(): Promise<void> {
        clearInterval(this.#timer)
        await this.settleAll("stop")
    }

    async #settle(entry: ChannelEntry, reason: string): Promise<void> {
        const {book, receipts, channels, storage, worker, log} = this.#options
        const voucher = entry.latest
        if (voucher == null || BigInt(voucher.fields.cumulative) <= entry.ledger.paid) return
        const channel = entry.record.id
        const hashes = [...entry.pending]
        try {
            const stored = await Promise.all(
                hashes.map(async (hash) => {
                    const bytes = await receipts.get(hash)
                    if (bytes == null) throw new Error(`receipt ${hash} is missing from the receipt store`)
                    return bytes.toString("base64")
                })
            )
            const {id: batchTx} = await storage.uploadData(JSON.stringify({channel, receipts: stored}), [
                {name: "Content-Type", value: "application/json"},
                {name: "App-Name", value: "weavelm"},
                {name: "Type", value: "Receipt-Batch"},
                {name: "Channel", value: channel},
                {name: "Worker", value: worker},
                {name: "Receipts-Root", value: voucher.fields.receiptsRoot}
            ])
            const redeemed = await channels.redeem(voucher)
            await book.settled(entry, {paid: redeemed.cumulative, settled: hashes})
            log(
                "info",
                "channel.settled",
                `channel ${channel} settled (${reason}): ${redeemed.amount} redeemed, ${hashes.length} receipts in ${batchTx}`,
                {
                    channel,
                    amount: redeemed.amount,
                    cumulative: redeemed.cumulative,
                    nonce: redeemed.nonce,
                    batchTx,
                    redeemMessage: redeemed.messageId,
                    receipts: hashes.length
                }
            )
        } catch (error) {
            if (error instanceof VoucherRedemptionError) {
                // Refused for good (already redeemed, Closed, ...): what the escrow says now is what counts.
                await book.reread(entry).catch(() => {})
                entry.latest = null
                await book.settled(entry, {paid: entry.ledger.paid.toString(), settled: hashes})
            }
            log(
                "warn",
                "channel.settle-failed",
                `could not settle channel ${channel} (${reason}): ${error instanceof Error ? error.message : String(error)}`,
                {channel}
            )
        }
    }
}
