import {createHash} from "node:crypto"
import {ArweaveSigner, createData} from "@dha-team/arbundles"
import type {Tag} from "../ao/index.ts"
import type {ArweaveJwk} from "../wallet/index.ts"
import {itemSignatureData, parseItemHeader, type DataDigest} from "./ans104.ts"

/** A signed data item's header: prepend it to the data and the item is complete. */
export interface SignedItemHeader {
    id: string
    header: Buffer
}

// ArweaveSigner converts the JWK to PEM once; uploads sign with the same wallet again and again.
const signers = new WeakMap<ArweaveJwk, ArweaveSigner>()

/**
 * Signs an ANS-104 data item whose data is known only by its length and SHA-384 (see
 * `digestFile`), so a file of any size is signed without holding it in memory. The header
 * is laid out by arbundles and signed as arbundles signs, so bundlers read it as their own.
 */
export async function signItemHeader(wallet: ArweaveJwk, tags: Tag[], data: DataDigest): Promise<SignedItemHeader> {
    const signer = signerOf(wallet)
    const header = Buffer.from(createData("", signer, tags.length > 0 ? {tags} : {}).getRaw())
    const fields = parseItemHeader(header)
    const signature = Buffer.from(await signer.sign(itemSignatureData(fields, data)))
    header.set(signature, 2)
    return {id: createHash("sha256").update(signature).digest("base64url"), header}
}

/** Signs a small data item held in memory: receipts, prompts, reports. */
export async function signDataItem(wallet: ArweaveJwk, data: Uint8Array | string, tags: Tag[]): Promise<{id: string; raw: Buffer}> {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    const {id, header} = await signItemHeader(wallet, tags, {size: bytes.length, sha384: createHash("sha384").update(bytes).digest()})
    return {id, raw: Buffer.concat([header, bytes])}
}

function signerOf(wallet: ArweaveJwk): ArweaveSigner {
    let signer = signers.get(wallet)
    if (signer == null) {
        signer = new ArweaveSigner(wallet as never)
        signers.set(wallet, signer)
    }
    return signer
}
