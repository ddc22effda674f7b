import {receiptsRoot} from "./receiptsRoot.ts"

/** Why a voucher or a request cannot go ahead on a channel; the HTTP layer maps `code` to 400/402. */
export type VoucherRefusalCode = "stale_nonce" | "insufficient_voucher" | "channel_exhausted"

/** The channel cannot take this voucher or request; `required` is the Cumulative that would be accepted. */
export class VoucherRefusedError extends Error {
    public override readonly name = "VoucherRefusedError"

    public constructor(
        message: string,
        public readonly code: VoucherRefusalCode,
        public readonly required?: bigint
    ) {
        super(message)
    }
}

export interface ChannelLedgerOptions {
    channel: string
    /** The channel's `deposited`. */
    deposited: string | bigint
    /** The channel's `paid`: what redemptions took so far. Defaults to 0. */
    paid?: string | bigint
    /** The highest nonce used on the channel so far (the channel record's `nonce` at least). Defaults to 0. */
    nonce?: number
    /** Fees of the requests completed so far, for a ledger restored from saved state. Defaults to 0. */
    completed?: string | bigint
}

/**
 * The arithmetic of one channel that both ends keep (the contract's "amount rule"): fees of
 * completed requests, the fee bounds of requests in flight, the highest nonce, and the receipts the
 * owner has been answered with, in nonce order.
 *
 * The owner's side calls `reserve()` before each request to get the voucher's Nonce and Cumulative,
 * then `complete()` with the fee and receipt hash from the response (or `release()` when it
 * failed). The worker's side calls `admit()` with each incoming voucher, then `complete()` or
 * `release()` the same way. A redemption pays the whole Cumulative of a voucher, which can exceed
 * the completed fees by the bound of the request it came with: `owed` is therefore never below
 * `paid`, and that excess pays for the next requests.
 */
export class ChannelLedger {
    public readonly channel: string
    #deposited: bigint
    #paid: bigint
    /** What the other side has acknowledged as owed (never above a Cumulative it signed or accepted). */
    #floor: bigint
    #completed = 0n
    #nonce: number
    #signedMax = 0n
    readonly #inFlight = new Map<number, bigint>()
    readonly #receipts: Array<{nonce: number; hash: string}> = []

    public constructor({channel, deposited, paid = 0n, nonce = 0, completed = 0n}: ChannelLedgerOptions) {
        this.channel = channel
        this.#deposited = BigInt(deposited)
        this.#paid = BigInt(paid)
        this.#floor = this.#paid
        this.#nonce = nonce
        this.#completed = BigInt(completed)
    }

    public get deposited(): bigint {
        return this.#deposited
    }

    public get paid(): bigint {
        return this.#paid
    }

    /** Fees of the requests completed so far. */
    public get completed(): bigint {
        return this.#completed
    }

    /** The highest nonce reserved or admitted. */
    public get nonce(): number {
        return this.#nonce
    }

    /** What completed requests cost, or what was already paid or acknowledged when that is more: the `cumulativeOwed` of responses. */
    public get owed(): bigint {
        return this.#completed > this.#floor ? this.#completed : this.#floor
    }

    /** The fee bounds of requests admitted or reserved and not yet completed or released. */
    public get inFlight(): bigint {
        let total = 0n
        for (const bound of this.#inFlight.values()) total += bound
        return total
    }

    /** The least Cumulative a voucher for a new request with fee bound `bound` must carry. */
    public required(bound: bigint): bigint {
        return this.owed + this.inFlight + bound
    }

    /** Receipt hashes of completed requests, ordered by the nonce that paid for each. */
    public get receiptHashes(): string[] {
        return this.#receipts.map((receipt) => receipt.hash)
    }

    /** `receiptsRoot()` of `receiptHashes`: what the owner's next voucher acknowledges. */
    public receiptsRoot(): string {
        return receiptsRoot(this.receiptHashes)
    }

    /**
     * Owner's side: the Nonce, Cumulative and Receipts-Root of the voucher for a new request with
     * fee bound `bound`, which is counted in flight from now on. Throws `VoucherRefusedError`
     * (`channel_exhausted`) when the deposit cannot cover it.
     */
    public reserve(bound: bigint): {nonce: number; cumulative: bigint; receiptsRoot: string} {
        const cumulative = this.required(bound)
        if (cumulative > this.#deposited)
            throw new VoucherRefusedError(
                `Channel ${this.channel} holds ${this.#deposited}; this request needs a voucher of ${cumulative}`,
                "channel_exhausted",
                cumulative
            )
        const root = this.receiptsRoot()
        this.#nonce += 1
        this.#inFlight.set(this.#nonce, bound)
        if (cumulative > this.#signedMax) this.#signedMax = cumulative
        return {nonce: this.#nonce, cumulative, receiptsRoot: root}
    }

    /**
     * Worker's side: accepts a voucher for a new request with fee bound `bound`, or throws
     * `VoucherRefusedError` — a nonce not above every earlier one, a deposit that cannot cover
     * the request or the voucher, or a Cumulative below `required(bound)`.
     */
    public admit({nonce, cumulative}: {nonce: number; cumulative: string | bigint}, bound: bigint): void {
        const amount = BigInt(cumulative)
        if (nonce <= this.#nonce) throw new VoucherRefusedError(`Stale voucher: nonce ${nonce} is not above ${this.#nonce}`, "stale_nonce")
        const required = this.required(bound)
        if (required > this.#deposited)
            throw new VoucherRefusedError(
                `Channel ${this.channel} holds ${this.#deposited}; this request needs a voucher of ${required}`,
                "channel_exhausted",
                required
            )
        if (amount > this.#deposited)
            throw new VoucherRefusedError(`Voucher over-spends the channel: ${amount} > ${this.#deposited}`, "channel_exhausted", required)
        if (amount < required)
            throw new VoucherRefusedError(
                `The voucher's Cumulative ${amount} is below the ${required} this request needs`,
                "insufficient_voucher",
                required
            )
        this.#nonce = nonce
        this.#inFlight.set(nonce, bound)
        if (amount > this.#signedMax) this.#signedMax = amount
    }

    /** A request finished: its bound leaves the in-flight sum, its fee joins `owed`. Returns `owed`. */
    public complete(nonce: number, {fee, receiptHash}: {fee: bigint; receiptHash: string}): bigint {
        if (!this.#inFlight.delete(nonce)) throw new RangeError(`No request with nonce ${nonce} is in flight on channel ${this.channel}`)
        this.#completed += fee
        const at = this.#receipts.findIndex((receipt) => receipt.nonce > nonce)
        this.#receipts.splice(at < 0 ? this.#receipts.length : at, 0, {nonce, hash: receiptHash})
        return this.owed
    }

    /** A request failed or was abandoned: it costs nothing. */
    public release(nonce: number): void {
        this.#inFlight.delete(nonce)
    }

    /** A redemption (or the channel record) says `paid`. */
    public recordPayment(paid: string | bigint): void {
        const amount = BigInt(paid)
        if (amount > this.#paid) this.#paid = amount
        if (amount > this.#floor) this.#floor = amount
    }

    /** A top-up (or the channel record) says `deposited`. */
    public recordDeposit(deposited: string | bigint): void {
        const amount = BigInt(deposited)
        if (amount > this.#deposited) this.#deposited = amount
    }

    /**
     * Owner's side: the worker reports `cumulativeOwed` (or a 402's `required` implies it). Taken
     * only up to the largest Cumulative this ledger reserved, since no worker can redeem more.
     */
    public acknowledgeOwed(owed: string | bigint): void {
        let amount = BigInt(owed)
        if (amount > this.#signedMax) amount = this.#signedMax
        if (amount > this.#floor) this.#floor = amount
    }
}
