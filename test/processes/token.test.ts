import {beforeAll, describe, expect, it} from "vitest"
import {MemoryAo, type Actor} from "../harness/memoryAo.ts"

describe("token process", () => {
    let ao: MemoryAo
    let owner: Actor, alice: Actor, bob: Actor
    let token: string

    beforeAll(async () => {
        ao = MemoryAo.create()
        ;[owner, alice, bob] = await Promise.all([ao.actor("owner"), ao.actor("alice"), ao.actor("bob")])
        token = await ao.deploy(owner, "token")
    })

    const balance = async (who: Actor) => (await owner.client.read(token, {Action: "Balance", Recipient: who.address})).tags.Balance

    it("mints to the owner only", async () => {
        const minted = await ao.send(owner, token, {Action: "Mint", Quantity: "1000", Recipient: alice.address})
        expect(minted.find({Action: "Mint-Notice"}).tags.Quantity).toBe("1000")
        const refused = await ao.send(bob, token, {Action: "Mint", Quantity: "5"})
        expect(refused.find({Action: "Mint-Error"}).tags.Error).toMatch(/owner/)
        expect(await balance(alice)).toBe("1000")
        expect(await balance(bob)).toBe("0")
    })

    it("transfers with notices that forward X- tags", async () => {
        const trace = await ao.send(alice, token, {Action: "Transfer", Recipient: bob.address, Quantity: "250", "X-Note": "hi"})
        const debit = trace.find({Action: "Debit-Notice"})
        expect(debit.target).toBe(alice.address)
        expect(debit.tags["X-Note"]).toBe("hi")
        const credit = trace.find({Action: "Credit-Notice"})
        expect(credit.target).toBe(bob.address)
        expect(credit.tags).toMatchObject({Sender: alice.address, Quantity: "250", "X-Note": "hi"})
        expect(await balance(alice)).toBe("750")
        expect(await balance(bob)).toBe("250")
    })

    it.each([
        ["missing quantity", {}],
        ["negative quantity", {Quantity: "-5"}],
        ["fractional quantity", {Quantity: "1.5"}],
        ["zero quantity", {Quantity: "0"}],
        ["huge quantity", {Quantity: "9".repeat(80)}],
        ["more than the balance", {Quantity: "100000"}]
    ])("refuses a transfer with %s", async (_label, tags) => {
        const trace = await ao.send(alice, token, {Action: "Transfer", Recipient: bob.address, ...tags})
        expect(trace.find({Action: "Transfer-Error"}).tags.Error).toBeTruthy()
        expect(trace.filter({Action: "Credit-Notice"})).toHaveLength(0)
        expect(await balance(alice)).toBe("750")
    })

    it("keeps the supply equal to the sum of balances", async () => {
        const info = await owner.client.read(token, {Action: "Info"})
        const balances = JSON.parse((await owner.client.read(token, {Action: "Balances"})).data) as Record<string, string>
        const sum = Object.values(balances).reduce((a, b) => a + BigInt(b), 0n)
        expect(info.tags["Total-Supply"]).toBe("1000")
        expect(sum).toBe(1000n)
    })
})
