/**
 * Direct mode: a requester pays one worker off-chain through a prepaid escrow channel
 * (docs/protocol.md, escrow "Channels (direct mode)") and talks to it over the worker's
 * OpenAI-compatible HTTP endpoint (worker/http).
 *
 * **Voucher.** An ANS-104 data item signed by the channel owner's wallet and not sent: Target the
 * escrow, data `"1"`, tags exactly `Data-Protocol: ao`, `Variant: ao.TN.1`, `Type: Message`,
 * `Action: Redeem-Voucher`, `Channel`, `Cumulative`, `Nonce`, `Receipts-Root`. Whoever holds it
 * posts the raw bytes to a MU as aoconnect's `message` would, and the escrow sees the owner as its
 * sender. Over HTTP it travels base64url-encoded in the `X-Weavelm-Voucher` request header.
 *
 * **Receipts-Root.** SHA-256 merkle root over the Receipt-Hashes of the answers the owner received
 * on the channel, in the order of the nonces that paid for them (`receiptsRoot`).
 *
 * **Amount rule.** A request's fee is a task's fee (`requestFee`); its bound prices the prompt's
 * UTF-8 bytes + 16 as input and max_tokens as output (`requestFeeBound`, over the `prompt` of
 * `parseDirectRequest`). The voucher sent with a request must carry a Nonce above every one the
 * worker accepted, and a Cumulative of at least the completed fees plus the bounds in flight plus
 * this bound, at most the channel's deposit (`ChannelLedger`).
 *
 * Owner's side, per request:
 * ```ts
 * const channels = new ChannelClient(connection.ao, {escrow, token})
 * const record = await channels.open({worker, quantity: "1000000"})
 * const ledger = new ChannelLedger({channel: record.id, deposited: record.deposited, paid: record.paid, nonce: record.nonce})
 * const request = parseDirectRequest("chat", body)                       // throws InvalidRequestError
 * const bound = requestFeeBound({priceInput, priceOutput, ownerFeeBps}, request)
 * const {nonce, cumulative, receiptsRoot} = ledger.reserve(bound)        // throws VoucherRefusedError
 * const voucher = await signVoucher({wallet, escrow, channel: record.id, cumulative, nonce, receiptsRoot})
 * fetch(url, {headers: {[VOUCHER_HEADER]: encodeVoucherHeader(voucher)}, ...})
 * // then, from the response's `weavelm` field:
 * ledger.complete(nonce, {fee: BigInt(weavelm.fee), receiptHash: weavelm.receiptHash})  // or ledger.release(nonce)
 * ```
 * A 402 `insufficient_voucher` carries `required`, the Cumulative the worker wants. It happens when
 * a redemption paid more than the fees so far (a voucher covers its request's bound, not its fee):
 * the excess is credit for later requests, which the owner's ledger learns by
 * `release(nonce)` then `acknowledgeOwed(required - bound - ledger.inFlight)` before reserving again
 * (or by `recordPayment(paid)` from the channel record or a `Voucher-Redeemed` notice).
 * Nonces must reach the worker in increasing order: a voucher whose nonce is not above every one
 * the worker accepted is refused, so concurrent requests on one channel are sent in nonce order.
 *
 * Worker's side: `decodeVoucher(header, {escrow})` (throws `InvalidVoucherError`), the channel
 * read by `ChannelClient.channel`, `ChannelLedger.admit`/`complete`/`release`, and settlement with
 * `ChannelClient.redeem(latestVoucher)`.
 */
export {ChannelClient, VoucherRedemptionError} from "./ChannelClient.ts"
export type {ChannelClientOptions} from "./ChannelClient.ts"
export {ChannelLedger, VoucherRefusedError} from "./ChannelLedger.ts"
export type {ChannelLedgerOptions, VoucherRefusalCode} from "./ChannelLedger.ts"
export {DEFAULT_MAX_TOKENS, InvalidRequestError, parseDirectRequest} from "./directRequest.ts"
export type {CompletionEndpoint, DirectRequest} from "./directRequest.ts"
export {receiptsRoot} from "./receiptsRoot.ts"
export {requestFee, requestFeeBound} from "./requestFee.ts"
export {CHANNEL_STATES, ChannelClosingSchema, ChannelRecordSchema, VoucherRedeemedSchema} from "./schemas.ts"
export type {ChannelClosing, ChannelRecord, ChannelState, VoucherRedemption} from "./schemas.ts"
export {decodeVoucher, encodeVoucherHeader, InvalidVoucherError, signVoucher, VOUCHER_HEADER} from "./voucher.ts"
export type {DataItemSigner, SignedVoucher, SignVoucherRequest, VoucherFields} from "./voucher.ts"
