import {randomUUID} from "node:crypto"
import {z} from "zod"
import {AoProcessError, type AoClient, type ProcessReply} from "../ao/index.ts"
import {awaitReply, inboxKey, mailboxCursor} from "../escrow/mailbox.ts"
import {
    ChannelClosingSchema,
    ChannelRecordSchema,
    VoucherRedeemedSchema,
    type ChannelClosing,
    type ChannelRecord,
    type ChannelState,
    type VoucherRedemption
} from "./schemas.ts"
import type {SignedVoucher} from "./voucher.ts"

export interface ChannelClientOptions {
    /** The escrow process. */
    escrow: string
    /** The token process channels are paid in. */
    token: string
    /** How long `open` and `topUp` wait for the escrow's answer to their transfer. Defaults to `120000` ms. */
    replyTimeoutMs?: number
}

/** The escrow refused a voucher (`Redeem-Voucher-Error`); the message is the escrow's `Error`. */
export class VoucherRedemptionError extends Error {
    public override readonly name = "VoucherRedemptionError"

    public constructor(
        message: string,
        public readonly messageId: string
    ) {
        super(message)
    }
}

/** The escrow's direct-mode channels as one wallet uses them: open, top up, close, read, redeem. */
export class ChannelClient {
    readonly #ao: AoClient
    public readonly escrow: string
    public readonly token: string
    readonly #replyTimeoutMs: number

    public constructor(ao: AoClient, {escrow, token, replyTimeoutMs = 120_000}: ChannelClientOptions) {
        this.#ao = ao
        this.escrow = escrow
        this.token = token
        this.#replyTimeoutMs = replyTimeoutMs
    }

    /**
     * Opens a channel with `worker` by a token transfer of `quantity` to the escrow
     * (`X-Action=Open-Channel`) and resolves with the new channel. A refusal (`Open-Channel-Error`,
     * the tokens come back) throws `AoProcessError`.
     */
    public async open({worker, quantity, model}: {worker: string; quantity: string; model?: string}): Promise<ChannelRecord> {
        const opened = await this.#transfer(quantity, {"X-Worker": worker, "X-Model": model})
        return await this.#required(opened.tags.Channel!)
    }

    /** Adds `quantity` to one of the wallet's Open channels, by transfer; resolves with the channel after it. */
    public async topUp(channel: string, quantity: string): Promise<ChannelRecord> {
        await this.#transfer(quantity, {"X-Channel": channel})
        return await this.#required(channel)
    }

    /** Starts closing one of the wallet's channels: the refund lock runs from now; resolves with the `Channel-Closing` terms. */
    public async close(channel: string): Promise<ChannelClosing> {
        const {emitted} = await this.#ao.send(this.escrow, {Action: "Close-Channel", Channel: channel})
        const reply = emitted.find((m) => m.tags.Action === "Channel-Closing" && m.target === this.#ao.address)
        if (reply != null) return ChannelClosingSchema.parse(reply.tags)
        // Upkeep on this very message finalized a channel whose lock had passed.
        const record = await this.#required(channel)
        return {channel, closesAt: record.closesAt ?? 0, deposited: record.deposited, paid: record.paid}
    }

    /** A channel by id; null when the escrow has none. */
    public async channel(id: string): Promise<ChannelRecord | null> {
        try {
            return ChannelRecordSchema.parse(await this.#ao.readJson(this.escrow, {Action: "Channel", Channel: id}))
        } catch (error) {
            if (error instanceof AoProcessError && error.action === "Channel-Error") return null
            throw error
        }
    }

    /** Channels, newest first, filtered by owner, worker and state (all optional). */
    public async channels(filter: {owner?: string; worker?: string; state?: ChannelState; limit?: number} = {}): Promise<ChannelRecord[]> {
        return z.array(ChannelRecordSchema).parse(
            await this.#ao.readJson(this.escrow, {
                Action: "Channels",
                Owner: filter.owner,
                Worker: filter.worker,
                State: filter.state,
                Limit: filter.limit
            })
        )
    }

    /**
     * Sends the voucher to the escrow as its owner signed it, then reads the escrow's result for it.
     * Anyone holding the voucher can redeem it; the escrow sees its signer as the sender. Throws
     * `VoucherRedemptionError` with the escrow's reason when refused.
     */
    public async redeem(voucher: SignedVoucher): Promise<VoucherRedemption & {messageId: string}> {
        const {emitted} = await this.#ao.sendSigned(this.escrow, voucher.raw, voucher.id)
        const refusal = emitted.find((m) => m.tags.Action === "Redeem-Voucher-Error")
        if (refusal != null) throw new VoucherRedemptionError(refusal.tags.Error ?? "Redeem-Voucher-Error", voucher.id)
        const redeemed = emitted.find((m) => m.tags.Action === "Voucher-Redeemed")
        if (redeemed == null)
            throw new AoProcessError(`The escrow did not answer voucher ${voucher.id}`, {process: this.escrow, action: "Redeem-Voucher"})
        return {...VoucherRedeemedSchema.parse(redeemed.tags), messageId: voucher.id}
    }

    /**
     * A transfer to the escrow with `X-Action=Open-Channel`; the escrow answers the Credit-Notice,
     * not our message, so the answer is found in our inbox by a fresh `X-Reference`.
     */
    async #transfer(quantity: string, tags: Record<string, string | undefined>): Promise<ProcessReply> {
        const reference = randomUUID()
        const from = await mailboxCursor(this.#ao, this.escrow, inboxKey(this.#ao.address))
        await this.#ao.send(this.token, {
            Action: "Transfer",
            Recipient: this.escrow,
            Quantity: quantity,
            "X-Action": "Open-Channel",
            "X-Reference": reference,
            ...tags
        })
        const reply = await awaitReply({
            ao: this.#ao,
            process: this.escrow,
            from,
            signal: AbortSignal.timeout(this.#replyTimeoutMs),
            match: (m) =>
                m.tags["X-Reference"] === reference && (m.tags.Action === "Channel-Opened" || m.tags.Action === "Open-Channel-Error")
        })
        if (reply?.tags.Action === "Open-Channel-Error")
            throw new AoProcessError(reply.tags.Error ?? "Open-Channel-Error", {process: this.escrow, action: "Open-Channel-Error"})
        if (reply != null) return reply
        throw new AoProcessError(`The escrow did not answer the Open-Channel transfer within ${this.#replyTimeoutMs} ms`, {
            process: this.escrow,
            action: "Open-Channel"
        })
    }

    async #required(id: string): Promise<ChannelRecord> {
        const record = await this.channel(id)
        if (record == null) throw new AoProcessError(`The escrow has no channel ${id}`, {process: this.escrow, action: "Channel"})
        return record
    }
}
