import {constants, createHash, createPublicKey, verify as verifyRsa} from "node:crypto"
import {createReadStream} from "node:fs"
import {open} from "node:fs/promises"
import {deserializeTags, indexToType, MAX_TAG_BYTES, SIG_CONFIG, SignatureConfig} from "@dha-team/arbundles"
import type {Tag} from "../ao/index.ts"

/** What precedes the data in an ANS-104 data item, as read from its bytes. */
export interface ItemHeader {
    id: string
    signatureType: number
    signature: Buffer
    /** The signer's public key (for Arweave keys, the RSA modulus). */
    owner: Buffer
    /** Empty when the item names no target. */
    target: Buffer
    /** Empty when the item has no anchor. */
    anchor: Buffer
    /** The Avro-encoded tags, exactly as signed. */
    rawTags: Buffer
    tags: Tag[]
    /** Where the data starts: the header's length. */
    dataOffset: number
}

/** A data item's data as the signature covers it: its length and SHA-384, computed in one streamed pass. */
export interface DataDigest {
    size: number
    sha384: Buffer
}

/** The bytes are not a well-formed ANS-104 data item, or its signature does not verify. */
export class InvalidDataItemError extends Error {
    public override readonly name = "InvalidDataItemError"
}

/**
 * No header is longer: the largest signature and key (multi-Aptos), both presence-flagged
 * fields, the two tag counters and the most tag bytes ANS-104 allows.
 */
export const MAX_HEADER_BYTES = 2 + 2116 + 1025 + 33 + 33 + 16 + MAX_TAG_BYTES

/** An Arweave address (and what gateways call an item's `owner.address`): SHA-256 of the public key. */
export function ownerAddress(owner: Uint8Array): string {
    return createHash("sha256").update(owner).digest("base64url")
}

/**
 * The message an ANS-104 signature covers: Arweave's deep hash of the header fields and the
 * data. The data enters it only as its length and SHA-384, so a file of any size is signed
 * or verified after one streamed pass, never held in memory.
 */
export function itemSignatureData(
    header: Pick<ItemHeader, "signatureType" | "owner" | "target" | "anchor" | "rawTags">,
    data: DataDigest
): Buffer {
    const fields = [
        Buffer.from("dataitem"),
        Buffer.from("1"),
        Buffer.from(String(header.signatureType)),
        header.owner,
        header.target,
        header.anchor,
        header.rawTags
    ]
    let hash = sha384(Buffer.from(`list${fields.length + 1}`))
    for (const field of fields) hash = sha384(Buffer.concat([hash, blobHash(field.length, sha384(field))]))
    return sha384(Buffer.concat([hash, blobHash(data.size, data.sha384)]))
}

/** Length and SHA-384 of a file's bytes from `start` to its end. */
export async function digestFile(file: string, start = 0, onBytes: (bytes: number) => void = () => {}): Promise<DataDigest> {
    const hash = createHash("sha384")
    let size = 0
    for await (const piece of createReadStream(file, {start, highWaterMark: 1 << 20})) {
        hash.update(piece as Buffer)
        size += (piece as Buffer).length
        onBytes((piece as Buffer).length)
    }
    return {size, sha384: hash.digest()}
}

/** Reads a data item's header from its first bytes (at most `MAX_HEADER_BYTES` are needed). */
export function parseItemHeader(bytes: Buffer): ItemHeader {
    let at = 0
    const take = (length: number, what: string) => {
        if (at + length > bytes.length) throw new InvalidDataItemError(`The data item ends inside its ${what}`)
        const field = bytes.subarray(at, at + length)
        at += length
        return field
    }
    const signatureType = take(2, "signature type").readUInt16LE(0)
    const config = SIG_CONFIG[signatureType as SignatureConfig] as {sigLength: number; pubLength: number} | undefined
    if (config == null || indexToType[signatureType] == null) throw new InvalidDataItemError(`Unknown signature type ${signatureType}`)
    const signature = take(config.sigLength, "signature")
    const owner = take(config.pubLength, "owner")
    const optional = (what: string) => {
        const flag = take(1, what)[0]
        if (flag !== 0 && flag !== 1) throw new InvalidDataItemError(`The ${what} presence byte must be 0 or 1, not ${flag}`)
        return flag === 1 ? take(32, what) : Buffer.alloc(0)
    }
    const target = optional("target")
    const anchor = optional("anchor")
    const tagCount = readLong(take(8, "tag count"))
    const tagBytes = readLong(take(8, "tag length"))
    if (tagBytes > MAX_TAG_BYTES) throw new InvalidDataItemError(`The tags take ${tagBytes} bytes; ANS-104 allows ${MAX_TAG_BYTES}`)
    const rawTags = take(tagBytes, "tags")
    let tags: Tag[] = []
    if (tagCount > 0 || tagBytes > 0) {
        try {
            tags = deserializeTags(rawTags).map(({name, value}) => ({name, value}))
        } catch {
            throw new InvalidDataItemError("The tags are not valid Avro")
        }
    }
    if (tags.length !== tagCount) throw new InvalidDataItemError(`The header counts ${tagCount} tags but holds ${tags.length}`)
    const id = createHash("sha256").update(signature).digest("base64url")
    return {id, signatureType, signature, owner, target, anchor, rawTags, tags, dataOffset: at}
}

/** Whether the header's signature covers `data`, for any key type arbundles knows. */
export async function verifyItemSignature(header: ItemHeader, data: DataDigest): Promise<boolean> {
    const message = itemSignatureData(header, data)
    // Node's own RSA check for Arweave keys: arweave-js logs a warning on every failure.
    if (header.signatureType === SignatureConfig.ARWEAVE) {
        try {
            const key = createPublicKey({key: {kty: "RSA", e: "AQAB", n: header.owner.toString("base64url")}, format: "jwk"})
            return verifyRsa("sha256", message, {key, padding: constants.RSA_PKCS1_PSS_PADDING}, header.signature)
        } catch {
            return false
        }
    }
    return await indexToType[header.signatureType]!.verify(header.owner, message, header.signature).catch(() => false)
}

/**
 * Checks a data item stored in a file: a well-formed header and a signature over its data,
 * read in one streamed pass. Throws `InvalidDataItemError` saying what is wrong.
 */
export async function verifyItemFile(file: string): Promise<ItemHeader & {dataSize: number}> {
    const handle = await open(file, "r")
    let prefix: Buffer
    try {
        const buffer = Buffer.alloc(MAX_HEADER_BYTES)
        const {bytesRead} = await handle.read(buffer, 0, buffer.length, 0)
        prefix = buffer.subarray(0, bytesRead)
    } finally {
        await handle.close()
    }
    const header = parseItemHeader(prefix)
    const data = await digestFile(file, header.dataOffset)
    if (!(await verifyItemSignature(header, data)))
        throw new InvalidDataItemError(`The signature of data item ${header.id} does not verify`)
    return {...header, dataSize: data.size}
}

function sha384(data: Uint8Array): Buffer {
    return createHash("sha384").update(data).digest()
}

/** Deep hash of a blob from its length and SHA-384. */
function blobHash(size: number, dataSha384: Buffer): Buffer {
    return sha384(Buffer.concat([sha384(Buffer.from(`blob${size}`)), dataSha384]))
}

/** ANS-104 writes counters as 8-byte little-endian integers. */
function readLong(bytes: Buffer): number {
    const value = bytes.readBigUInt64LE(0)
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidDataItemError("A counter in the header is out of range")
    return Number(value)
}
