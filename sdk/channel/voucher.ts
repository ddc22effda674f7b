import {constants, createHash, createPublicKey, verify as verifySignature} from "node:crypto"
import {createDataItemSigner} from "@permaweb/aoconnect"
import {createData, DataItem, SIG_CONFIG, SignatureConfig} from "@dha-team/arbundles"
import type {ArweaveJwk} from "../wallet/index.ts"

/** The HTTP request header a voucher travels in, base64url of its raw bytes. */
export const VOUCHER_HEADER = "X-Weavelm-Voucher"

/** What a voucher says; every field is signed. */
export interface VoucherFields {
    /** The escrow process the voucher is addressed to (the data item's Target). */
    escrow: string
    channel: string
    /** Total owed on the channel so far, an integer string of token base units. */
    cumulative: string
    /** Greater than the nonce of every voucher the worker accepted before on this channel. */
    nonce: number
    /** `receiptsRoot()` of the receipts the owner has received on this channel, 64 hex characters. */
    receiptsRoot: string
}

/** A voucher as signed data item: `raw` can be posted to a MU as is, and its message id is `id`. */
export interface SignedVoucher {
    /** The data item id, which becomes the AO message id when posted. */
    id: string
    raw: Uint8Array
    /** The signer's Arweave address: the channel owner when the voucher is genuine. */
    owner: string
    fields: VoucherFields
}

/**
 * aoconnect's data item signer, as `createDataItemSigner(wallet)` returns it: it is handed a
 * `create` callback that builds the unsigned item for its public key and returns the bytes to sign.
 */
export type DataItemSigner = (
    create: (signing: {type?: number; publicKey: Uint8Array | string; alg?: string}) => Promise<Uint8Array>,
    kind: "ans104"
) => Promise<{signature: Uint8Array | string} | {id: string; raw: Uint8Array}>

export type SignVoucherRequest = Omit<VoucherFields, "cumulative"> & {cumulative: string | bigint} & (
        | {wallet: ArweaveJwk; signer?: never}
        | {signer: DataItemSigner; wallet?: never}
    )

/** A voucher that cannot be used: malformed, forged, addressed elsewhere or not a Redeem-Voucher. */
export class InvalidVoucherError extends Error {
    public override readonly name = "InvalidVoucherError"
}

const DATA = "1"
/** arbundles' MIN_BINARY_SIZE: no data item is shorter. */
const MIN_DATA_ITEM_BYTES = 80
const ID = /^[A-Za-z0-9_-]{43}$/
const INTEGER = /^(0|[1-9][0-9]{0,37})$/
/** The escrow refuses larger nonces (docs/protocol.md, "Vouchers"): a worker must not accept one it cannot redeem. */
const MAX_NONCE = 999_999_999_999_999
const HEX_DIGEST = /^[0-9a-f]{64}$/
const FIXED_TAGS = [
    ["Data-Protocol", "ao"],
    ["Variant", "ao.TN.1"],
    ["Type", "Message"],
    ["Action", "Redeem-Voucher"]
] as const
const FIELD_TAGS = ["Channel", "Cumulative", "Nonce", "Receipts-Root"] as const
/** Every tag of a voucher, in the order signVoucher writes them; a voucher has these and no others. */
const TAG_NAMES: readonly string[] = [...FIXED_TAGS.map(([name]) => name), ...FIELD_TAGS]

// aoconnect's signer factory counts key uses (100 a minute per key); a voucher is signed per
// request, so one signer is kept per wallet object.
const walletSigners = new WeakMap<ArweaveJwk, DataItemSigner>()

/**
 * Signs a `Redeem-Voucher` message for the escrow without sending it, with aoconnect's signer and
 * arbundles, the stack `message()` itself uses. Whoever holds the result can post `raw` to a MU.
 */
export async function signVoucher(request: SignVoucherRequest): Promise<SignedVoucher> {
    const fields = checkFields(
        {...request, cumulative: String(request.cumulative)},
        (problem) => new RangeError(`Cannot sign the voucher: ${problem}`)
    )
    const signer = request.signer ?? signerOf(request.wallet!)
    const tags = voucherTags(fields)
    let unsigned: Uint8Array | undefined
    const signed = await signer(async ({type = SignatureConfig.ARWEAVE, publicKey}) => {
        const meta = SIG_CONFIG[type as SignatureConfig]
        if (meta == null) throw new Error(`Unknown signature type ${type}`)
        const owner = typeof publicKey === "string" ? Buffer.from(publicKey, "base64url") : Buffer.from(publicKey)
        const item = createData(
            DATA,
            {signatureType: type, ownerLength: meta.pubLength, signatureLength: meta.sigLength, publicKey: owner} as never,
            {target: fields.escrow, tags}
        )
        unsigned = item.getRaw()
        return await item.getSignatureData()
    }, "ans104")
    let raw: Uint8Array
    if ("raw" in signed) {
        raw = signed.raw
    } else {
        if (unsigned == null) throw new Error("The signer returned a signature without building the data item")
        const signature = typeof signed.signature === "string" ? Buffer.from(signed.signature, "base64url") : signed.signature
        raw = Buffer.from(unsigned)
        raw.set(signature, 2)
    }
    return await readVoucher(raw)
}

/** The header value for a voucher: base64url of its raw bytes. */
export function encodeVoucherHeader(voucher: Pick<SignedVoucher, "raw">): string {
    return Buffer.from(voucher.raw).toString("base64url")
}

/**
 * Reads a voucher from its header value and checks it offline: a well-formed ANS-104 item, a valid
 * Arweave signature, a Redeem-Voucher with exactly the voucher's tags, and, when `escrow` is
 * given, addressed to that process. Throws `InvalidVoucherError` saying what is wrong.
 */
export async function decodeVoucher(headerValue: string, {escrow}: {escrow?: string} = {}): Promise<SignedVoucher> {
    if (!/^[A-Za-z0-9_-]+={0,2}$/.test(headerValue.trim())) throw new InvalidVoucherError("The voucher is not base64url")
    const voucher = await readVoucher(Buffer.from(headerValue.trim(), "base64url"))
    if (escrow != null && voucher.fields.escrow !== escrow)
        throw new InvalidVoucherError(`The voucher is addressed to ${voucher.fields.escrow}, not to this worker's escrow ${escrow}`)
    return voucher
}

async function readVoucher(raw: Uint8Array): Promise<SignedVoucher> {
    const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
    let item: DataItem
    let signatureData: Uint8Array
    try {
        // arbundles reads fields without bounds checks: read each once so garbage fails here, not later.
        if (bytes.length < MIN_DATA_ITEM_BYTES) throw new RangeError("too short")
        item = new DataItem(bytes)
        void [item.signatureType, item.target, item.tags, item.rawData]
        signatureData = await item.getSignatureData()
    } catch {
        throw new InvalidVoucherError("The voucher is not an ANS-104 data item")
    }
    if (item.signatureType !== SignatureConfig.ARWEAVE)
        throw new InvalidVoucherError("The voucher must be signed with an Arweave (RSA) key")
    // The RSA check first, as arweave-js does it but without its console warning on every forgery;
    // arbundles' own verify then adds its structural checks.
    let signed: boolean
    try {
        const owner = createPublicKey({key: {kty: "RSA", e: "AQAB", n: item.owner}, format: "jwk"})
        signed = verifySignature("sha256", signatureData, {key: owner, padding: constants.RSA_PKCS1_PSS_PADDING}, item.rawSignature)
    } catch {
        signed = false
    }
    if (!signed || !(await DataItem.verify(bytes))) throw new InvalidVoucherError("The voucher's signature does not verify")
    if (Buffer.from(item.rawData).toString("utf8") !== DATA) throw new InvalidVoucherError(`The voucher's data must be "${DATA}"`)

    const tags = new Map<string, string>()
    for (const {name, value} of item.tags) {
        if (!TAG_NAMES.includes(name)) throw new InvalidVoucherError(`The voucher carries an unexpected tag ${name}`)
        if (tags.has(name)) throw new InvalidVoucherError(`The voucher repeats the tag ${name}`)
        tags.set(name, value)
    }
    for (const [name, value] of FIXED_TAGS)
        if (tags.get(name) !== value)
            throw new InvalidVoucherError(`The voucher's ${name} must be ${value}, not ${tags.get(name) ?? "missing"}`)
    for (const name of FIELD_TAGS) if (!tags.has(name)) throw new InvalidVoucherError(`The voucher lacks the tag ${name}`)
    const nonce = tags.get("Nonce")!
    const fields = checkFields(
        {
            escrow: item.target,
            channel: tags.get("Channel")!,
            cumulative: tags.get("Cumulative")!,
            nonce: INTEGER.test(nonce) ? Number(nonce) : NaN,
            receiptsRoot: tags.get("Receipts-Root")!
        },
        (problem) => new InvalidVoucherError(`The voucher's ${problem}`)
    )
    return {id: item.id, raw: Uint8Array.from(bytes), owner: createHash("sha256").update(item.rawOwner).digest("base64url"), fields}
}

function checkFields(fields: VoucherFields, fail: (problem: string) => Error): VoucherFields {
    if (!ID.test(fields.escrow)) throw fail(`escrow (target) must be a 43-character process id, not "${fields.escrow}"`)
    if (!ID.test(fields.channel)) throw fail(`Channel must be a 43-character id, not "${fields.channel}"`)
    if (!INTEGER.test(fields.cumulative)) throw fail(`Cumulative must be an integer string, not "${fields.cumulative}"`)
    if (!Number.isSafeInteger(fields.nonce) || fields.nonce < 0 || fields.nonce > MAX_NONCE)
        throw fail(`Nonce must be an integer from 0 to ${MAX_NONCE}, not ${fields.nonce}`)
    if (!HEX_DIGEST.test(fields.receiptsRoot)) throw fail(`Receipts-Root must be 64 lowercase hex characters, not "${fields.receiptsRoot}"`)
    return {
        escrow: fields.escrow,
        channel: fields.channel,
        cumulative: fields.cumulative,
        nonce: fields.nonce,
        receiptsRoot: fields.receiptsRoot
    }
}

function voucherTags(fields: VoucherFields) {
    return [
        ...FIXED_TAGS.map(([name, value]) => ({name, value})),
        {name: "Channel", value: fields.channel},
        {name: "Cumulative", value: fields.cumulative},
        {name: "Nonce", value: String(fields.nonce)},
        {name: "Receipts-Root", value: fields.receiptsRoot}
    ]
}

function signerOf(wallet: ArweaveJwk): DataItemSigner {
    let signer = walletSigners.get(wallet)
    if (signer == null) {
        signer = createDataItemSigner(wallet) as DataItemSigner
        walletSigners.set(wallet, signer)
    }
    return signer
}
