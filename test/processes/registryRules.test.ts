import {beforeAll, describe, expect, it} from "vitest"
import {deployLuaRules} from "../harness/luaRules.ts"

/*
 * The registry's rule modules called directly inside aos (an Eval in a
 * deployed registry, whose bundle installed them): edge cases that would take
 * dozens of messages through the handlers, and the promise every rule makes
 * that a refusal leaves the state tables exactly as they were.
 */
describe("registry rules (weavelm.workers, weavelm.models)", () => {
    /** Runs Lua with `workers`, `models`, `json` and `try` in scope. */
    let lua: <T>(body: string) => Promise<T>

    beforeAll(async () => {
        const run = await deployLuaRules(
            "registry",
            `
            local workers = require("weavelm.workers")
            local models = require("weavelm.models")
            local function try(fn, ...)
              local ok, value = pcall(fn, ...)
              if ok then return value == nil and "ok" or value end
              return { error = type(value) == "table" and value.text or tostring(value) }
            end`
        )
        lua = (body) => run(`return json.encode((function() ${body} end)())`)
    })

    it("makes a worker eligible exactly at Min-Stake", async () => {
        expect(
            await lua(`
            local W, S = {}, {}
            local params = { minStake = "100", escrow = "E" }
            local terms = { models = { "m" } }
            workers.stake(S, "a", "99")
            local below = try(workers.register, W, S, params, "a", terms, 1)
            workers.stake(S, "a", "1")
            local at = try(workers.register, W, S, params, "a", terms, 1)
            local eligibleAt = workers.eligible(W, S, params, "a")
            workers.unstake(S, "a", "1", 2, 0)
            local eligibleBelow = workers.eligible(W, S, params, "a")
            local noMinimum = workers.eligible(W, S, { minStake = "0" }, "a")
            local unregistered = workers.eligible(W, S, { minStake = "0" }, "b")
            return { below = below, at = at.address, eligibleAt = eligibleAt, eligibleBelow = eligibleBelow,
                     noMinimum = noMinimum, unregistered = unregistered }
        `)
        ).toEqual({
            below: {error: "Stake 99 is below Min-Stake 100"},
            at: "a",
            eligibleAt: true,
            eligibleBelow: false,
            noMinimum: true,
            unregistered: false
        })
    })

    it("slashes the stake first, then the unstaking amount, then nothing", async () => {
        expect(
            await lua(`
            local W = { a = { reputation = { completed = 0, strikes = 0, slashed = 0 } } }
            local S = { a = { staked = "300", unstaking = "200", availableAt = 50 } }
            local taken = {}
            for _, qty in ipairs({ "100", "250", "1000", "1" }) do
              taken[#taken + 1] = workers.slash(W, S, "a", qty)
            end
            return { taken = taken, left = S.a == nil, slashed = W.a.reputation.slashed,
                     unknown = try(workers.slash, W, S, "b", "1") }
        `)
        ).toEqual({taken: ["100", "250", "150", "0"], left: true, slashed: 4, unknown: {error: "Worker b is not registered"}})
    })

    it("restarts the cooldown of the whole unstaking amount on every Unstake", async () => {
        expect(
            await lua(`
            local S = {}
            workers.stake(S, "a", "20")
            local _, first = workers.unstake(S, "a", "10", 1000, 10)
            local _, second = workers.unstake(S, "a", "5", 2000, 10)
            local early = try(workers.withdraw, S, "a", 2009)
            local paid = workers.withdraw(S, "a", 2010)
            local all, _ = workers.unstake(S, "a", nil, 3000, 0)
            return { first = first, second = second, early = early, paid = paid, all = all, record = S.a }
        `)
        ).toEqual({
            first: 1010,
            second: 2010,
            early: {error: "Cooldown not over: Available-At 2010"},
            paid: "15",
            all: "5",
            record: {staked: "0", unstaking: "5", availableAt: 3000}
        })
    })

    it("keeps 38-digit stakes exact", async () => {
        const big = "9".repeat(38)
        expect(
            await lua(`
            local S = {}
            workers.stake(S, "a", "${big}")
            workers.stake(S, "b", "${big}")
            workers.unstake(S, "b", "1", 1, 0)
            local staked, unstaking = workers.totals(S)
            return { staked = staked, unstaking = unstaking }
        `)
        ).toEqual({staked: (2n * BigInt(big) - 1n).toString(), unstaking: "1"})
    })

    it("changes no state when a rule refuses", async () => {
        const refusals = await lua<Array<{error?: string; same: boolean}>>(`
            local params = { minStake = "100", escrow = "E", token = "T", unstakeCooldown = 1, heartbeatTimeout = 1 }
            local W = { a = { address = "a", models = { "m" }, reputation = { completed = 0, strikes = 0, slashed = 0 } } }
            local S = { a = { staked = "150", unstaking = "10", availableAt = 500 }, c = { staked = "50", unstaking = "0", availableAt = 0 } }
            local M = { m = { id = "m", name = "base", owner = "a" }, n = { id = "n", name = "other", owner = "b" } }
            local N = { base = "m", other = "n" }
            local state = function() return json.encode({ W, S, M, N, params }) end
            local calls = {
              function() return workers.register(W, S, params, "a", {}, 1) end,
              function() return workers.register(W, S, params, "c", {}, 1) end,
              function() return workers.register(W, S, { minStake = "0" }, "d", {}, 1) end,
              function() return workers.update(W, "c", { maxConcurrency = 2 }) end,
              function() return workers.heartbeat(W, "c", 1) end,
              function() return workers.unstake(S, "a", "151", 1, 1) end,
              function() return workers.unstake(S, "d", nil, 1, 1) end,
              function() return workers.withdraw(S, "a", 499) end,
              function() return workers.withdraw(S, "c", 1000) end,
              function() return workers.slash(W, S, "c", "10") end,
              function() return workers.recordOutcome(W, "a", "Slashed") end,
              function() return workers.recordOutcome(W, "c", "Completed") end,
              function() return workers.configure(params, { Tags = { Token = string.rep("t", 43) } }, S) end,
              function() return models.register(M, N, { id = "m", name = "base", owner = "b" }, 1) end,
              function() return models.register(M, N, { id = "x", name = "other", owner = "a" }, 1) end,
              function() return models.register(M, N, { id = "m", name = "other", owner = "a" }, 1) end,
            }
            local out = {}
            for i, call in ipairs(calls) do
              local before = state()
              local result = try(call)
              out[i] = { error = result.error, same = state() == before }
            end
            return out
        `)
        expect(refusals).toEqual([
            {error: "Already registered; use Update-Worker", same: true},
            {error: "Stake 50 is below Min-Stake 100", same: true},
            {error: "The registry has no escrow configured yet", same: true},
            {error: "Worker c is not registered", same: true},
            {error: "Worker c is not registered", same: true},
            {error: "Quantity 151 is above the stake 150", same: true},
            {error: "Nothing staked", same: true},
            {error: "Cooldown not over: Available-At 500", same: true},
            {error: "Nothing unstaked", same: true},
            {error: "Worker c is not registered", same: true},
            {error: "Outcome must be Completed or Strike", same: true},
            {error: "Worker c is not registered", same: true},
            {error: "Token cannot change while stakes are held", same: true},
            {error: "Model-Id m is registered by another owner", same: true},
            {error: "Name other is taken by another model", same: true},
            {error: "Name other is taken by another model", same: true}
        ])
    })
})
