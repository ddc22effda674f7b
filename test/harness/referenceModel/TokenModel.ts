import type {Accounting} from "./Accounting.ts"
import type {Evaluation, Expected, Tags} from "./evaluation.ts"
import {check, guarded} from "./guard.ts"
import {Input, positive} from "./input.ts"

/** processes/token.lua: balances moved by Transfer and Mint. */
export class TokenModel {
    public readonly balances = new Map<string, bigint>()
    public supply = 0n

    /** `accounting` only for the token whose holdings the run accounts for; the second token moves none of them. */
    public constructor(
        private readonly owner: string,
        private readonly accounting?: Accounting
    ) {}

    public balanceOf(who: string) {
        return this.balances.get(who) ?? 0n
    }

    public predict(ev: Evaluation): Expected[] {
        return guarded(ev, () => {
            switch (ev.tags.Action) {
                case "Transfer":
                    return this.transfer(ev)
                case "Mint":
                    return this.mint(ev)
                default:
                    throw new Error(`model: token got an unexpected ${ev.tags.Action}`)
            }
        })
    }

    private transfer(ev: Evaluation): Expected[] {
        const recipient = Input.of(ev.tags).required("Recipient")
        const qty = positive(ev.tags.Quantity, "Quantity")
        const have = this.balanceOf(ev.from)
        check(qty <= have, `Insufficient balance: have ${have}, need ${qty}`)
        if (have - qty === 0n) this.balances.delete(ev.from)
        else this.balances.set(ev.from, have - qty)
        this.balances.set(recipient, this.balanceOf(recipient) + qty)
        if (this.accounting?.isActor(ev.from) && this.accounting.isActor(recipient)) {
            this.accounting.allow(ev.from, -qty)
            this.accounting.allow(recipient, qty)
        }
        const forwarded: Tags = {}
        for (const [k, v] of Object.entries(ev.tags)) if (k.startsWith("X-")) forwarded[k] = v
        return [
            {target: ev.from, tags: {...forwarded, Action: "Debit-Notice", Recipient: recipient, Quantity: String(qty)}},
            {target: recipient, tags: {...forwarded, Action: "Credit-Notice", Sender: ev.from, Quantity: String(qty)}}
        ]
    }

    private mint(ev: Evaluation): Expected[] {
        check(ev.from === this.owner, "Only the owner may mint")
        const qty = positive(ev.tags.Quantity, "Quantity")
        const recipient = ev.tags.Recipient ?? ev.from
        this.balances.set(recipient, this.balanceOf(recipient) + qty)
        this.supply += qty
        this.accounting?.allow(recipient, qty)
        return [{target: ev.from, tags: {Action: "Mint-Notice", Recipient: recipient, Quantity: String(qty)}}]
    }
}
