import {describe, expect, it} from "vitest"
import type {ProcessReply} from "../../../sdk/ao/index.ts"
import {splitFee} from "./fees.ts"
import {alice, carol, ids, modelBench, owner, T0} from "./modelBench.ts"

const mint = {pid: ids.token, id: "m", from: owner, tags: {Action: "Mint", Recipient: alice, Quantity: "5"}, data: "", timestamp: T0}
const notice: ProcessReply = {target: owner, tags: {Action: "Mint-Notice", Recipient: alice, Quantity: "5"}, data: ""}

describe("reference model", () => {
    it("replays an evaluation whose outputs are the predicted ones and records them for the step", () => {
        const {model} = modelBench()
        model.evaluate({...mint, outputs: [notice]})
        expect(model.stepOutputs).toEqual([{...notice, from: ids.token}])
        model.newStep()
        expect([model.stepOutputs, model.accounting.allowedOf(alice)]).toEqual([[], 0n])
    })

    it("fails an evaluation whose outputs differ from the prediction, naming the difference", () => {
        expect(() => modelBench().model.evaluate({...mint, outputs: []})).toThrow(/^output count 0 != 1/)
        const replay = (outputs: ProcessReply[]) => () => modelBench().model.evaluate({...mint, outputs})
        expect(replay([{...notice, tags: {...notice.tags, Quantity: "6"}}])).toThrow(/^output 0: Quantity: 6 != 5/)
        expect(replay([{...notice, target: alice}])).toThrow(/^output 0: target/)
        expect(replay([notice])).not.toThrow()
    })

    it("reads tag names the way aos normalizes them", () => {
        const {send} = modelBench()
        expect(send(ids.token, owner, {action: "Mint", recipient: alice, quantity: "5"})[0]!.tags).toMatchObject({
            Action: "Mint-Notice",
            Recipient: alice
        })
    })

    it("refuses a message at a process it does not know", () => {
        expect(() => modelBench().send(alice, owner, {Action: "Mint"})).toThrow(`evaluation at an unknown process ${alice}`)
    })

    it("sums an address's holdings over token, escrow balance, locked, stake and unstaking", () => {
        const {model, send} = modelBench()
        send(ids.token, owner, {Action: "Mint", Recipient: carol, Quantity: "1"})
        send(ids.escrow, owner, {Action: "Configure", Token: ids.token, Registry: ids.registry})
        send(ids.escrow, ids.token, {Action: "Credit-Notice", Sender: carol, Quantity: "20", "X-Action": "Deposit"})
        send(ids.registry, owner, {Action: "Configure", Token: ids.token})
        send(ids.registry, ids.token, {Action: "Credit-Notice", Sender: carol, Quantity: "300", "X-Action": "Stake"})
        send(ids.registry, carol, {Action: "Unstake", Quantity: "100"})
        expect(model.holdings(carol)).toBe(1n + 20n + 300n)
    })

    it("splits a fee with the model owner's share on top, scaled down together to fit Max-Fee", () => {
        expect(splitFee(1000n, 3000n, 250, 100, 50, 1000n)).toEqual({worker: 250n, owner: 6n, total: 256n})
        expect(splitFee(1000n, 3000n, 0, 1, 0, 1000n)).toEqual({worker: 1n, owner: 0n, total: 1n})
        expect(splitFee(1000n, 3000n, 250, 10000, 64, 200n)).toEqual({worker: 196n, owner: 4n, total: 200n})
    })
})
