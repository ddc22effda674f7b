import type {Evaluation, Expected} from "./evaluation.ts"

/** Thrown by the model where a process refuses a message (guard.fail). */
export class Refusal extends Error {}

export const fail = (text: string): never => {
    throw new Refusal(text)
}

export const check = (cond: unknown, text: string) => {
    if (!cond) fail(text)
}

/** guard.wrap: a refusal refunds tokens that came with a Credit-Notice and answers `<Action>-Error`. */
function refusal(ev: Evaluation, text: string): Expected[] {
    const out: Expected[] = []
    const action = ev.tags.Action === "Credit-Notice" && ev.tags["X-Action"] ? ev.tags["X-Action"] : ev.tags.Action
    // A refund is itself never refunded, or two processes could bounce tokens forever.
    if (ev.tags.Action === "Credit-Notice" && ev.tags.Sender && ev.tags.Quantity && !ev.tags["X-Refund-Reason"])
        out.push({
            target: ev.from,
            tags: {Action: "Transfer", Recipient: ev.tags.Sender, Quantity: ev.tags.Quantity, "X-Refund-Reason": text}
        })
    const target = ev.tags.Action === "Credit-Notice" ? ev.tags.Sender! : ev.from
    out.push({target, tags: {Action: `${action ?? "Unknown"}-Error`}, error: text})
    return out
}

/** Predicts a handler's outputs, or the refusal it ends in. */
export function guarded(ev: Evaluation, predict: () => Expected[]): Expected[] {
    try {
        return predict()
    } catch (e) {
        if (e instanceof Refusal) return refusal(ev, e.message)
        throw e
    }
}
