import {describe, expect, it} from "vitest"
import {alice, carol, ids, m1, modelBench, owner, T0, w1} from "./modelBench.ts"

/** A registry wired to the token and escrow (Min-Stake 1000, Unstake-Cooldown 2500), knowing m1. */
function registryBench() {
    const bench = modelBench()
    const {send} = bench
    send(ids.registry, owner, {
        Action: "Configure",
        Token: ids.token,
        Escrow: ids.escrow,
        "Min-Stake": "1000",
        "Unstake-Cooldown": "2500",
        "Heartbeat-Timeout": "120000"
    })
    send(ids.registry, carol, {
        Action: "Register-Model",
        "Model-Id": m1,
        "SHA-256": "ab".repeat(32),
        Name: "toy-m1",
        Format: "GGUF",
        Architecture: "llama",
        Quantization: "Q4_K_M",
        Parameters: "1100000000",
        "Context-Length": "2048",
        License: "Apache-2.0",
        "Owner-Fee": "250"
    })
    const stake = (who: string, quantity: string, token = ids.token) =>
        send(ids.registry, token, {Action: "Credit-Notice", Sender: who, Quantity: quantity, "X-Action": "Stake"})
    const register = (who: string, at = T0) =>
        send(
            ids.registry,
            who,
            {
                Action: "Register-Worker",
                Models: m1,
                "Price-Input": "1000",
                "Price-Output": "3000",
                "Max-Concurrency": "2",
                Hardware: "cpu-2c"
            },
            {at}
        )
    return {...bench, stake, register}
}

describe("reference model: registry", () => {
    it("takes a stake only from its token, and refunds one in another token to its sender", () => {
        const {model, stake} = registryBench()
        expect(stake(w1, "1500")).toEqual([
            {target: w1, tags: {Action: "Stake-Notice", Quantity: "1500", Stake: "1500", "X-Reference": undefined}}
        ])
        const reason = `Stakes are paid in token ${ids.token}, not ${ids.token2}`
        expect(stake(w1, "300", ids.token2)).toEqual([
            {target: ids.token2, tags: {Action: "Transfer", Recipient: w1, Quantity: "300", "X-Refund-Reason": reason}},
            {target: w1, tags: {Action: "Stake-Error"}, error: reason}
        ])
        expect(model.registry.stakeOf(w1)).toEqual({staked: 1500n, unstaking: 0n, availableAt: 0})
    })

    it("registers a worker staked at Min-Stake and syncs its record to the escrow", () => {
        const {model, stake, register} = registryBench()
        stake(w1, "999")
        expect(register(w1)[0]).toMatchObject({tags: {Action: "Register-Worker-Error"}, error: "Stake 999 is below Min-Stake 1000"})
        stake(w1, "1")
        const [notice, sync] = register(w1, T0 + 5)
        expect(notice).toEqual({target: w1, tags: {Action: "Register-Worker-Notice", Worker: w1}})
        expect(sync).toMatchObject({target: ids.escrow, tags: {Action: "Sync-Worker"}})
        const record = {
            address: w1,
            models: [m1],
            priceInput: "1000",
            priceOutput: "3000",
            maxConcurrency: 2,
            stake: "1000",
            eligible: true,
            lastHeartbeat: T0 + 5,
            heartbeatTimeout: 120000,
            reputation: {completed: 0, strikes: 0, slashed: 0},
            hardware: "cpu-2c"
        }
        sync!.json!(record)
        expect(() => sync!.json!({...record, stake: "999"})).toThrow()
        expect(model.registry.workers.get(w1)?.registeredAt).toBe(T0 + 5)
    })

    it("refuses an Update-Worker with bad terms before asking whether the sender is registered", () => {
        const {send} = registryBench()
        const update = (concurrency: string) =>
            send(ids.registry, alice, {Action: "Update-Worker", "Max-Concurrency": concurrency})[0]!.error
        expect(update("65")).toBe("Max-Concurrency must be at most 64")
        expect(update("3")).toBe(`Worker ${alice} is not registered`)
    })

    it("unstakes into a cooldown and pays back only after it", () => {
        const {model, send, stake} = registryBench()
        stake(w1, "4000")
        expect(send(ids.registry, w1, {Action: "Unstake", Quantity: "1500"})[0]).toEqual({
            target: w1,
            tags: {Action: "Unstake-Notice", Quantity: "1500", Stake: "2500", "Available-At": String(T0 + 2500)}
        })
        expect(model.registry.stakeTotals()).toEqual({staked: 2500n, unstaking: 1500n})
        expect(send(ids.registry, w1, {Action: "Withdraw"}, {at: T0 + 2499})[0]!.error).toBe(`Cooldown not over: Available-At ${T0 + 2500}`)
        expect(send(ids.registry, w1, {Action: "Withdraw"}, {at: T0 + 2500})).toEqual([
            {target: ids.token, tags: {Action: "Transfer", Recipient: w1, Quantity: "1500"}},
            {target: w1, tags: {Action: "Withdraw-Notice", Quantity: "1500"}}
        ])
        expect(model.registry.stakeOf(w1)).toEqual({staked: 2500n, unstaking: 0n, availableAt: 0})
        expect(model.accounting.stats.withdrawnStakes).toBe(1)
    })

    it("unstakes everything without a Quantity, forgets an address with nothing left, and refuses what is not staked", () => {
        const {model, send, stake} = registryBench()
        stake(w1, "700")
        expect(send(ids.registry, w1, {Action: "Unstake", Quantity: "701"})[0]!.error).toBe("Quantity 701 is above the stake 700")
        send(ids.registry, w1, {Action: "Unstake"})
        send(ids.registry, w1, {Action: "Withdraw"}, {at: T0 + 2500})
        expect(model.registry.stakes.has(w1)).toBe(false)
        expect(send(ids.registry, w1, {Action: "Unstake"})[0]!.error).toBe("Nothing staked")
        expect(send(ids.registry, w1, {Action: "Withdraw"})[0]!.error).toBe("Nothing unstaked")
    })

    it("counts outcomes only from the escrow", () => {
        const {model, send, stake, register} = registryBench()
        stake(w1, "1000")
        register(w1)
        expect(send(ids.registry, alice, {Action: "Record-Outcome", Worker: w1, Outcome: "Completed"})[0]!.error).toBe(
            "Only the escrow may send Record-Outcome"
        )
        send(ids.registry, ids.escrow, {Action: "Record-Outcome", Worker: w1, Outcome: "Strike"})
        expect(model.registry.workers.get(w1)!.reputation).toEqual({completed: 0, strikes: 1, slashed: 0})
    })

    it("leaves disputes out: a Slash from the escrow is outside the model", () => {
        const {send} = registryBench()
        expect(send(ids.registry, alice, {Action: "Slash"})[0]!.error).toBe("Only the escrow may send Slash")
        expect(() => send(ids.registry, ids.escrow, {Action: "Slash"})).toThrow("model: the escrow never slashes")
    })
})
