import {describe, expect, it} from "vitest"
import {alice, carol, ids, modelBench, owner} from "./modelBench.ts"

describe("reference model: token", () => {
    it("moves a transfer, forwards X- tags to both notices, and drops a balance that reaches zero", () => {
        const {model, send} = modelBench()
        send(ids.token, owner, {Action: "Mint", Recipient: alice, Quantity: "100"})
        const out = send(ids.token, alice, {
            Action: "Transfer",
            Recipient: carol,
            Quantity: "100",
            "X-Action": "Deposit",
            "X-Reference": "r1"
        })
        expect(out).toEqual([
            {target: alice, tags: {"X-Action": "Deposit", "X-Reference": "r1", Action: "Debit-Notice", Recipient: carol, Quantity: "100"}},
            {target: carol, tags: {"X-Action": "Deposit", "X-Reference": "r1", Action: "Credit-Notice", Sender: alice, Quantity: "100"}}
        ])
        expect([...model.token.balances]).toEqual([[carol, 100n]])
        expect(model.token.supply).toBe(100n)
    })

    it("allows a transfer between actors to move their holdings, and one to a process to move none", () => {
        const {model, send} = modelBench()
        send(ids.token, owner, {Action: "Mint", Recipient: alice, Quantity: "500"})
        model.newStep()
        send(ids.token, alice, {Action: "Transfer", Recipient: carol, Quantity: "200"})
        send(ids.token, alice, {Action: "Transfer", Recipient: ids.escrow, Quantity: "50"})
        expect([model.accounting.allowedOf(alice), model.accounting.allowedOf(carol)]).toEqual([-200n, 200n])
        expect(model.holdings(alice)).toBe(250n)
    })

    it("refuses a transfer above the balance, or of a malformed quantity, and moves nothing", () => {
        const {model, send} = modelBench()
        send(ids.token, owner, {Action: "Mint", Recipient: alice, Quantity: "10"})
        expect(send(ids.token, alice, {Action: "Transfer", Recipient: carol, Quantity: "11"})).toEqual([
            {target: alice, tags: {Action: "Transfer-Error"}, error: "Insufficient balance: have 10, need 11"}
        ])
        const refusal = (quantity: string) => send(ids.token, alice, {Action: "Transfer", Recipient: carol, Quantity: quantity})[0]!.error
        expect(refusal("1.5")).toBe("Quantity must be a non-negative integer string")
        expect(refusal("0")).toBe("Quantity must be greater than 0")
        expect(refusal("9".repeat(39))).toBe("Quantity is too large")
        expect([...model.token.balances]).toEqual([[alice, 10n]])
    })

    it("lets only the owner mint, which raises the supply", () => {
        const {model, send} = modelBench()
        expect(send(ids.token, alice, {Action: "Mint", Quantity: "1000000"})).toEqual([
            {target: alice, tags: {Action: "Mint-Error"}, error: "Only the owner may mint"}
        ])
        expect(send(ids.token, owner, {Action: "Mint", Quantity: "7"})).toEqual([
            {target: owner, tags: {Action: "Mint-Notice", Recipient: owner, Quantity: "7"}}
        ])
        expect(model.token.supply).toBe(7n)
        expect(model.accounting.allowedOf(owner)).toBe(7n)
    })

    it("keeps the second token apart: its balances are its own and it allows no holdings to move", () => {
        const {model, send} = modelBench()
        send(ids.token2, owner, {Action: "Mint", Recipient: alice, Quantity: "50"})
        send(ids.token2, alice, {Action: "Transfer", Recipient: carol, Quantity: "20"})
        expect([model.token2.balanceOf(carol), model.token.balanceOf(carol)]).toEqual([20n, 0n])
        expect(model.accounting.allowedOf(alice)).toBe(0n)
    })
})
