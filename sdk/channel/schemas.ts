import {z} from "zod"

export const CHANNEL_STATES = ["Open", "Closing", "Closed"] as const
export type ChannelState = (typeof CHANNEL_STATES)[number]

const amount = z.string().regex(/^\d+$/, "must be an integer string")

/** A channel as the escrow's `Channel` and `Channels` reads report it (the contract's ChannelRecord). */
export const ChannelRecordSchema = z.object({
    id: z.string(),
    owner: z.string(),
    worker: z.string(),
    /** The Model-Id the channel is for, or null for any model the worker serves. */
    model: z
        .string()
        .nullish()
        .transform((model) => model ?? null),
    deposited: amount,
    paid: amount,
    /** The nonce of the last redeemed voucher; 0 before the first. */
    nonce: z.number().int().nonnegative(),
    receiptsRoot: z
        .string()
        .nullish()
        .transform((root) => root ?? null),
    redemptions: z.number().int().nonnegative(),
    state: z.enum(CHANNEL_STATES),
    openedAt: z.number(),
    /** When a Closing channel's refund lock ends; null while Open. */
    closesAt: z
        .number()
        .nullish()
        .transform((at) => at ?? null)
})
export type ChannelRecord = z.output<typeof ChannelRecordSchema>

/** The escrow's `Voucher-Redeemed`, to the worker and to the owner. */
export const VoucherRedeemedSchema = z
    .object({
        Channel: z.string(),
        Amount: amount,
        Cumulative: amount,
        Nonce: z.coerce.number().int(),
        "Receipts-Root": z.string(),
        "Worker-Share": amount,
        "Owner-Share": amount
    })
    .transform((tags) => ({
        channel: tags.Channel,
        amount: tags.Amount,
        cumulative: tags.Cumulative,
        nonce: tags.Nonce,
        receiptsRoot: tags["Receipts-Root"],
        workerShare: tags["Worker-Share"],
        ownerShare: tags["Owner-Share"]
    }))
export type VoucherRedemption = z.output<typeof VoucherRedeemedSchema>

/** The escrow's `Channel-Closing`, to the owner and to the worker. */
export const ChannelClosingSchema = z
    .object({
        Channel: z.string(),
        "Closes-At": z.coerce.number(),
        Deposited: amount,
        Paid: amount
    })
    .transform((tags) => ({channel: tags.Channel, closesAt: tags["Closes-At"], deposited: tags.Deposited, paid: tags.Paid}))
export type ChannelClosing = z.output<typeof ChannelClosingSchema>
