import {ArweaveSigner, createData} from "@dha-team/arbundles"
import {connect, createSigner} from "@permaweb/aoconnect"
import type {ArweaveJwk} from "../../sdk/wallet/index.ts"

export interface Tag {
    name: string
    value: string
}

export interface Evaluation {
    Output: unknown
    Messages: Array<{Target?: string; Data?: string; Tags: Tag[]}>
    Error?: unknown
}

/** What the tests use of aoconnect 0.0.98's mainnet mode (its declarations do not type that mode's functions). */
export interface MainnetAo {
    spawn(args: {module: string; authority: string; tags?: Tag[]; data?: string}): Promise<string>
    message(args: {process: string; tags?: Tag[]; data?: string}): Promise<number>
    message(args: {
        process: string
        tags?: Tag[]
        data?: string
        returnMessageId: true
        returnAssignmentSlot: true
    }): Promise<{slot: number; id: string}>
    result(args: {process: string; slot?: number; message?: string}): Promise<Evaluation>
    results(args: {process: string}): Promise<{edges: Array<{cursor: string; node: Evaluation}>}>
    dryrun(args: {process: string; tags?: Tag[]; data?: string}): Promise<Evaluation>
    /** Signs `fields` as one ANS-104 item and POSTs it to the node; resolves with the node's raw answer. */
    request(fields: Record<string, unknown>): Promise<Response>
}

/** aoconnect in mainnet mode, as a HyperBEAM client calls a node. */
export function mainnetAo(node: string, scheduler: string, jwk: ArweaveJwk): MainnetAo {
    return connect({MODE: "mainnet", URL: node, SCHEDULER: scheduler, signer: createSigner(jwk as never)} as never) as unknown as MainnetAo
}

/** The fields aoconnect's mainnet `message` sends with a message, for raw `request`s. */
export const MESSAGE_FIELDS = {
    Type: "Message",
    "Data-Protocol": "ao",
    Variant: "ao.N.1",
    method: "POST",
    "signing-format": "ans104",
    "accept-bundle": "true",
    "require-codec": "application/json"
}

/** Tags from a record, in its order. */
export function tags(record: Record<string, string>): Tag[] {
    return Object.entries(record).map(([name, value]) => ({name, value}))
}

export function tagValue(message: {Tags: Tag[]} | undefined, name: string): string | undefined {
    return message?.Tags.find((tag) => tag.name === name)?.value
}

/** A message item signed by `jwk`, as raw ANS-104 bytes. */
export async function signedMessage(jwk: ArweaveJwk, target: string, itemTags: Tag[], data: string): Promise<Buffer> {
    const signer = new ArweaveSigner(jwk as never)
    const item = createData(data, signer, {target, tags: [...itemTags, ...tags({Type: "Message", "Data-Protocol": "ao"})]})
    await item.sign(signer)
    return Buffer.from(item.getRaw())
}
