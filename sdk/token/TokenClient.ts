import {z} from "zod"
import type {AoClient, SentMessage, TagValues} from "../ao/index.ts"

const BalanceReplySchema = z.object({Balance: z.string().regex(/^\d+$/, "must be a whole number of base units")})

/** The token process (aos token blueprint actions, docs/protocol.md "token"), through one wallet. */
export class TokenClient {
    readonly #ao: AoClient
    public readonly process: string

    public constructor(ao: AoClient, process: string) {
        this.#ao = ao
        this.process = process
    }

    /** Base units held by `address` (default: the signing wallet). */
    public async balance(address = this.#ao.address): Promise<string> {
        const reply = await this.#ao.read(this.process, {Action: "Balance", Recipient: address})
        return BalanceReplySchema.parse(reply.tags).Balance
    }

    /**
     * Sends `quantity` to `recipient`. `forward` becomes `X-` tags the token passes on in the
     * recipient's Credit-Notice: how a transfer tells a process what it pays for.
     */
    public async transfer(recipient: string, quantity: string, forward: TagValues = {}): Promise<SentMessage> {
        const forwarded = Object.fromEntries(
            Object.entries(forward).map(([name, value]) => [name.startsWith("X-") ? name : `X-${name}`, value])
        )
        return await this.#ao.send(this.process, {Action: "Transfer", Recipient: recipient, Quantity: quantity, ...forwarded})
    }

    /** Creates tokens; only the token's owner may (devnets and tests). */
    public async mint(recipient: string, quantity: string): Promise<SentMessage> {
        return await this.#ao.send(this.process, {Action: "Mint", Recipient: recipient, Quantity: quantity})
    }
}
