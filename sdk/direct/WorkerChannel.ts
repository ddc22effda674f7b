import {
    ChannelLedger,
    encodeVoucherHeader,
    signVoucher,
    type ChannelClient,
    type ChannelRecord,
    type SignedVoucher
} from "../channel/index.ts"
import type {ArweaveJwk} from "../wallet/index.ts"

/** A voucher ready to travel with one request. */
export interface RequestVoucher {
    nonce: number
    /** The `X-Weavelm-Voucher` header value. */
    header: string
}

export interface WorkerChannelOptions {
    channels: ChannelClient
    wallet: ArweaveJwk
    /** How much to add when the deposit cannot cover a voucher of `required`; at least `required - deposited`. */
    topUpFor(required: bigint, deposited: bigint): bigint
    /** Told after every top-up. */
    onTopUp?: (record: ChannelRecord) => void
}

/** A voucher signed ahead for the next request, valid while the ledger stays as it was. */
interface PreparedVoucher {
    nonce: number
    cumulative: bigint
    bound: bigint
    receipts: number
    signed: Promise<SignedVoucher>
}

/**
 * The owner's end of one channel with one worker: the ledger, the vouchers it
 * signs, and top-ups when the deposit runs short. Vouchers are signed and their
 * requests started one at a time, so that nonces leave in increasing order.
 *
 * Signing takes an RSA-4096 signature, 10 to 25 ms on a small CPU, which would
 * add that much to every time to first token. So when the channel goes idle the
 * next voucher is signed ahead, for a request as dear as the last one; a
 * request that fits under it takes it as is. A worker then holds a voucher
 * that may cover the previous request's bound rather than this one's: the
 * risk stays within one request's bound.
 */
export class WorkerChannel {
    public readonly id: string
    public readonly worker: string
    public readonly ledger: ChannelLedger
    private readonly _options: WorkerChannelOptions
    private _turn: Promise<unknown> = Promise.resolve()
    /** The bound each request in flight was reserved with, by nonce. */
    private readonly _bounds = new Map<number, bigint>()
    private _prepared?: PreparedVoucher

    public constructor(record: ChannelRecord, options: WorkerChannelOptions) {
        this.id = record.id
        this.worker = record.worker
        this.ledger = new ChannelLedger({channel: record.id, deposited: record.deposited, paid: record.paid, nonce: record.nonce})
        this._options = options
    }

    /**
     * Signs a voucher for a request whose fee is at most `bound` and calls `send`
     * with it before the next voucher is signed. Resolves once `send` started,
     * with what it returns still pending.
     */
    public async send<T>(bound: bigint, send: (voucher: RequestVoucher) => Promise<T>): Promise<{nonce: number; sent: Promise<T>}> {
        const turn = this._turn.then(async () => {
            await this._ensureFunds(bound)
            const prepared = this._takePrepared(bound)
            const {nonce, cumulative, receiptsRoot} = this.ledger.reserve(prepared?.bound ?? bound)
            this._bounds.set(nonce, prepared?.bound ?? bound)
            try {
                const voucher = await (prepared?.signed ?? this._sign(nonce, cumulative, receiptsRoot))
                return {nonce, sent: send({nonce, header: encodeVoucherHeader(voucher)})}
            } catch (error) {
                this.release(nonce)
                throw error
            }
        })
        this._turn = turn.catch(() => {})
        return await turn
    }

    /** A request was answered: records its fee and receipt, and what the worker says is owed. */
    public complete(nonce: number, {fee, receiptHash, cumulativeOwed}: {fee: bigint; receiptHash: string; cumulativeOwed: string}) {
        this.ledger.complete(nonce, {fee, receiptHash})
        this.ledger.acknowledgeOwed(cumulativeOwed)
        this._afterRequest(nonce)
    }

    /** A request failed or was abandoned: it costs nothing on this side's books. */
    public release(nonce: number) {
        this.ledger.release(nonce)
        this._afterRequest(nonce)
    }

    private _afterRequest(nonce: number) {
        const bound = this._bounds.get(nonce)
        this._bounds.delete(nonce)
        if (bound == null || this.ledger.inFlight !== 0n) return
        const cumulative = this.ledger.required(bound)
        if (cumulative > this.ledger.deposited) return
        const next = this.ledger.nonce + 1
        const signed = this._sign(next, cumulative, this.ledger.receiptsRoot())
        signed.catch(() => {})
        this._prepared = {nonce: next, cumulative, bound, receipts: this.ledger.receiptHashes.length, signed}
    }

    /** The voucher signed ahead, when the ledger is still where it was and the request's bound fits under it. */
    private _takePrepared(bound: bigint): PreparedVoucher | undefined {
        const prepared = this._prepared
        this._prepared = undefined
        if (prepared == null || bound > prepared.bound || prepared.nonce !== this.ledger.nonce + 1) return undefined
        if (this.ledger.required(prepared.bound) !== prepared.cumulative || this.ledger.receiptHashes.length !== prepared.receipts)
            return undefined
        return prepared
    }

    private _sign(nonce: number, cumulative: bigint, receiptsRoot: string): Promise<SignedVoucher> {
        return signVoucher({
            wallet: this._options.wallet,
            escrow: this._options.channels.escrow,
            channel: this.id,
            cumulative,
            nonce,
            receiptsRoot
        })
    }

    private async _ensureFunds(bound: bigint) {
        const required = this.ledger.required(bound)
        if (required <= this.ledger.deposited) return
        const quantity = this._options.topUpFor(required, this.ledger.deposited)
        const record = await this._options.channels.topUp(this.id, quantity.toString())
        this.ledger.recordDeposit(record.deposited)
        this.ledger.recordPayment(record.paid)
        this._options.onTopUp?.(record)
    }
}
