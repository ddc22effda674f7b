import {createHash} from "node:crypto"

const HEX_DIGEST = /^[0-9a-f]{64}$/

/**
 * A voucher's Receipts-Root: the SHA-256 merkle root over receipt hashes (hex, as Receipt-Hash),
 * in the order of the nonces that paid for them. Leaves are the 32-byte digests themselves, a pair
 * hashes as sha256(left || right), an odd last node moves up unchanged, and no receipts at all give
 * sha256 of nothing.
 */
export function receiptsRoot(receiptHashes: readonly string[]): string {
    if (receiptHashes.length === 0) return createHash("sha256").digest("hex")
    let level: Buffer[] = receiptHashes.map((hash) => {
        if (!HEX_DIGEST.test(hash)) throw new RangeError(`A receipt hash must be 64 lowercase hex characters, not "${hash}"`)
        return Buffer.from(hash, "hex")
    })
    while (level.length > 1) {
        const next: Buffer[] = []
        for (let i = 0; i < level.length; i += 2)
            next.push(
                i + 1 < level.length
                    ? createHash("sha256")
                          .update(level[i]!)
                          .update(level[i + 1]!)
                          .digest()
                    : level[i]!
            )
        level = next
    }
    return level[0]!.toString("hex")
}
