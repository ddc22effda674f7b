import {mkdir, readdir, readFile, rename, writeFile} from "node:fs/promises"
import path from "node:path"
import type {ProcessReply} from "../../sdk/ao/index.ts"
import {
    ChannelLedger,
    decodeVoucher,
    encodeVoucherHeader,
    VoucherRefusedError,
    type ChannelClient,
    type ChannelRecord,
    type SignedVoucher
} from "../../sdk/channel/index.ts"
import {HttpError} from "./HttpError.ts"

/** One channel as this worker keeps it. */
export interface ChannelEntry {
    record: ChannelRecord
    ledger: ChannelLedger
    /** The highest-nonce voucher whose request was answered: what a settlement redeems. */
    latest: SignedVoucher | null
    /** Hashes of receipts answered since the last settlement, in nonce order: the next Receipt-Batch. */
    pending: string[]
}

/** What survives a restart for each channel: enough to redeem and to refuse replayed vouchers. */
interface SavedEntry {
    nonce: number
    completed: string
    latest: string | null
    pending: string[]
}

export interface ChannelBookOptions {
    channels: ChannelClient
    /** This worker's address: only its own channels are served. */
    worker: string
    /** Folder for the saved entries. */
    dir: string
    /** A Closing channel is served only while its refund lock has more than this left, time to redeem. */
    closingMarginMs: number
    /** Least time between two reads of one channel forced by vouchers its cached record cannot cover. */
    refreshMs: number
}

/**
 * The worker's channels: records read from the escrow once and kept current by its notices, one
 * `ChannelLedger` each, the voucher to redeem and the receipts to batch. Decides whether a voucher
 * pays for a request (the contract's checks, in its order) and saves what a restart needs.
 */
export class ChannelBook {
    readonly #options: ChannelBookOptions
    readonly #entries = new Map<string, ChannelEntry>()
    readonly #loading = new Map<string, Promise<ChannelEntry | null>>()
    readonly #refreshedAt = new Map<string, number>()
    /** Entries read from disk whose records are read on first use. */
    readonly #saved = new Map<string, SavedEntry>()
    readonly #saving = new Map<string, Promise<void>>()

    public constructor(options: ChannelBookOptions) {
        this.#options = options
    }

    /** Reads the entries saved by an earlier run and their channels, so their vouchers can be redeemed. */
    public async restore(): Promise<void> {
        const files = await readdir(this.#options.dir).catch(() => [] as string[])
        for (const file of files.filter((name) => name.endsWith(".json"))) {
            const saved = JSON.parse(await readFile(path.join(this.#options.dir, file), "utf8")) as SavedEntry
            this.#saved.set(file.slice(0, -".json".length), saved)
        }
        for (const channel of [...this.#saved.keys()]) await this.entry(channel)
    }

    public get(channel: string): ChannelEntry | undefined {
        return this.#entries.get(channel)
    }

    /** Entries holding a voucher that pays more than the channel has paid. */
    public unsettled(): ChannelEntry[] {
        return [...this.#entries.values()].filter(
            (entry) => entry.latest != null && BigInt(entry.latest.fields.cumulative) > entry.ledger.paid
        )
    }

    /** The entry of a channel, read from the escrow when not known yet; null when the escrow has no such channel. */
    public async entry(channel: string): Promise<ChannelEntry | null> {
        const known = this.#entries.get(channel)
        if (known != null) return known
        let loading = this.#loading.get(channel)
        if (loading == null) {
            loading = this.#read(channel).finally(() => this.#loading.delete(channel))
            this.#loading.set(channel, loading)
        }
        return await loading
    }

    /**
     * Checks a voucher sent with a request whose fee bound is `bound` for `model`, and counts the
     * request in flight. Throws `HttpError` 400 (not a voucher for this worker, its channel or its
     * owner; a stale nonce; a model the channel does not pay for) or 402 (the channel cannot pay).
     */
    public async admit(voucher: SignedVoucher, bound: bigint, model: {id: string; ownerFee: number}): Promise<ChannelEntry> {
        const {channel, nonce, cumulative} = voucher.fields
        const entry = await this.entry(channel)
        if (entry == null) throw new HttpError(400, "unknown_channel", `The escrow has no channel ${channel}`)
        const {record} = entry
        if (record.worker !== this.#options.worker)
            throw new HttpError(400, "wrong_worker", `Channel ${channel} is with worker ${record.worker}, not this one`)
        if (voucher.owner !== record.owner) throw new HttpError(400, "wrong_signer", "Voucher is not signed by the channel's owner")
        if (record.model != null && record.model !== model.id)
            throw new HttpError(400, "wrong_model", `Channel ${channel} pays for model ${record.model} only`)
        // The escrow splits a redemption with the model owner only for the channel's own model.
        if (record.model == null && model.ownerFee > 0)
            throw new HttpError(
                400,
                "wrong_model",
                `Channel ${channel} names no model, so it cannot pay model ${model.id}'s owner fee: open a channel for that model`
            )
        this.#checkOpen(record)
        try {
            entry.ledger.admit({nonce, cumulative}, bound)
        } catch (error) {
            if (!(error instanceof VoucherRefusedError)) throw error
            // A top-up the notices have not brought yet: read the channel again, at most every refreshMs.
            if (error.code === "channel_exhausted" && (await this.#refresh(entry))) return await this.admit(voucher, bound, model)
            throw refusal(error)
        }
        return entry
    }

    /** A request was answered: its fee is owed, its voucher redeemable, its receipt due in the next batch. Returns what the channel owes. */
    public async complete(
        entry: ChannelEntry,
        voucher: SignedVoucher,
        {fee, receiptHash}: {fee: bigint; receiptHash: string}
    ): Promise<bigint> {
        const owed = entry.ledger.complete(voucher.fields.nonce, {fee, receiptHash})
        if (entry.latest == null || voucher.fields.nonce > entry.latest.fields.nonce) entry.latest = voucher
        entry.pending.push(receiptHash)
        await this.#save(entry)
        return owed
    }

    /** A request failed or its client left: it costs nothing. */
    public release(entry: ChannelEntry, voucher: SignedVoucher): void {
        entry.ledger.release(voucher.fields.nonce)
    }

    /** A settlement redeemed `paid` and batched `settled` receipts. */
    public async settled(entry: ChannelEntry, {paid, settled}: {paid: string; settled: readonly string[]}): Promise<void> {
        entry.ledger.recordPayment(paid)
        entry.pending = entry.pending.filter((hash) => !settled.includes(hash))
        await this.#save(entry)
    }

    /** Reads the channel from the escrow again (after a refused redemption, say). */
    public async reread(entry: ChannelEntry): Promise<void> {
        const record = await this.#options.channels.channel(entry.record.id)
        if (record != null) this.#apply(entry, record)
    }

    /** Keeps cached records current from the escrow's notices to this worker. */
    public notice(message: ProcessReply): ChannelEntry | undefined {
        const entry = this.#entries.get(message.tags.Channel ?? "")
        if (entry == null) return undefined
        const {tags} = message
        if (tags.Action === "Channel-Opened" && tags.Deposited != null) {
            entry.record.deposited = tags.Deposited
            entry.ledger.recordDeposit(tags.Deposited)
        } else if (tags.Action === "Channel-Closing") {
            entry.record.state = "Closing"
            entry.record.closesAt = Number(tags["Closes-At"])
        } else if (tags.Action === "Channel-Closed") {
            entry.record.state = "Closed"
        } else if (tags.Action === "Voucher-Redeemed" && tags.Cumulative != null) {
            entry.ledger.recordPayment(tags.Cumulative)
            entry.record.paid = entry.ledger.paid.toString()
        }
        return entry
    }

    #checkOpen(record: ChannelRecord) {
        if (record.state === "Closed") throw new HttpError(402, "channel_exhausted", `Channel ${record.id} is Closed`)
        if (record.state === "Closing" && Date.now() >= (record.closesAt ?? 0) - this.#options.closingMarginMs)
            throw new HttpError(402, "channel_exhausted", `Channel ${record.id} is Closing and its refund lock ends at ${record.closesAt}`)
    }

    async #read(channel: string): Promise<ChannelEntry | null> {
        const record = await this.#options.channels.channel(channel)
        if (record == null) return null
        this.#refreshedAt.set(channel, Date.now())
        const saved = this.#saved.get(channel)
        this.#saved.delete(channel)
        const entry: ChannelEntry = {
            record,
            ledger: new ChannelLedger({
                channel,
                deposited: record.deposited,
                paid: record.paid,
                nonce: Math.max(record.nonce, saved?.nonce ?? 0),
                completed: saved?.completed ?? "0"
            }),
            latest: saved?.latest == null ? null : await decodeVoucher(saved.latest),
            pending: saved?.pending ?? []
        }
        this.#entries.set(channel, entry)
        return entry
    }

    async #refresh(entry: ChannelEntry): Promise<boolean> {
        const last = this.#refreshedAt.get(entry.record.id) ?? 0
        if (Date.now() - last < this.#options.refreshMs) return false
        this.#refreshedAt.set(entry.record.id, Date.now())
        const before = entry.ledger.deposited
        await this.reread(entry)
        return entry.ledger.deposited > before
    }

    #apply(entry: ChannelEntry, record: ChannelRecord) {
        entry.ledger.recordDeposit(record.deposited)
        entry.ledger.recordPayment(record.paid)
        entry.record = record
    }

    /** Saves one entry; saves of the same entry run one after the other. */
    #save(entry: ChannelEntry): Promise<void> {
        const id = entry.record.id
        const saving = (this.#saving.get(id) ?? Promise.resolve()).then(() => this.#write(entry))
        this.#saving.set(
            id,
            saving.catch(() => {})
        )
        return saving
    }

    async #write(entry: ChannelEntry) {
        const saved: SavedEntry = {
            nonce: entry.ledger.nonce,
            completed: entry.ledger.completed.toString(),
            latest: entry.latest == null ? null : encodeVoucherHeader(entry.latest),
            pending: entry.pending
        }
        await mkdir(this.#options.dir, {recursive: true})
        const file = path.join(this.#options.dir, `${entry.record.id}.json`)
        await writeFile(file + ".tmp", JSON.stringify(saved))
        await rename(file + ".tmp", file)
    }
}

function refusal(error: VoucherRefusedError): HttpError {
    if (error.code === "stale_nonce") return new HttpError(400, "stale_nonce", error.message)
    return new HttpError(402, error.code, error.message, {fields: error.required == null ? {} : {required: error.required.toString()}})
}
