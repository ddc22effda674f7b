import {beforeAll, describe, expect, it} from "vitest"
import {deployLuaRules} from "../harness/luaRules.ts"
import {seededDraws} from "../harness/seededDraws.ts"

// The escrow's pure rule modules, run inside aos over many inputs at once: one
// Eval evaluates a whole table of cases, which the process tests cannot afford
// message by message.

describe("escrow rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow")
    })

    it("splits fees as documented: worker rounded up, owner down, both scaled into Max-Fee", async () => {
        // A small deterministic generator: amounts from 0 to 10^30, token counts, basis points.
        const next = seededDraws(12345n)
        const cases = Array.from({length: 60}, (_, i) => {
            const scale = 10n ** BigInt(i % 31)
            return {
                priceInput: (next(10_000n) * scale).toString(),
                priceOutput: (next(10_000n) * scale).toString(),
                inputTokens: Number(next(100_000n)),
                outputTokens: Number(next(32_769n)),
                ownerFee: Number(i % 5 === 0 ? 0n : next(10_001n)),
                // Half the cases fall below the fee, to exercise the cap.
                maxFee: (next(10_000n) * scale * (i % 2 === 0 ? 1n : 100_000n)).toString()
            }
        })
        const got = await lua<Array<{worker: string; owner: string; total: string; quote: string}>>(`
            local fees = require("weavelm.fees")
            local out = {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(cases)}]==])) do
              local split = fees.split({ input = c.priceInput, output = c.priceOutput }, c.ownerFee, c.inputTokens, c.outputTokens, c.maxFee)
              split.quote = fees.quote(c.priceOutput, c.outputTokens, c.ownerFee)
              out[i] = split
            end
            return json.encode(out)`)

        const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b
        let capped = 0
        for (const [i, c] of cases.entries()) {
            const bps = BigInt(c.ownerFee)
            let worker = ceilDiv(BigInt(c.priceInput) * BigInt(c.inputTokens) + BigInt(c.priceOutput) * BigInt(c.outputTokens), 1000n)
            let owner = (worker * bps) / 10_000n
            const maxFee = BigInt(c.maxFee)
            if (worker + owner > maxFee) {
                capped++
                owner = (maxFee * bps) / (10_000n + bps)
                worker = maxFee - owner
            }
            const quoted = ceilDiv(BigInt(c.priceOutput) * BigInt(c.outputTokens), 1000n)
            expect(got[i], JSON.stringify(c)).toEqual({
                worker: worker.toString(),
                owner: owner.toString(),
                total: (worker + owner).toString(),
                quote: (quoted + (quoted * bps) / 10_000n).toString()
            })
        }
        expect(capped).toBeGreaterThan(10)
        expect(capped).toBeLessThan(50)
    })

    it("weights workers by stake and reputation and draws in proportion, the same way for the same seed", async () => {
        const got = await lua<{weights: string[]; counts: number[]; again: boolean; zero: string}>(`
            local selection = require("weavelm.selection")
            local function worker(address, stake, completed, strikes, slashed)
              return { worker = { address = address, stake = stake,
                reputation = { completed = completed, strikes = strikes, slashed = slashed } } }
            end
            local weights = {
              selection.weight(worker("a", "1000", 0, 0, 0).worker),
              selection.weight(worker("b", "1000", 3, 1, 0).worker),
              selection.weight(worker("c", "2500", 10, 0, 1).worker),
            }
            -- Real stakes in base units (12 decimals) weigh far more than 2^32.
            local candidates = { worker("a", "1000000000000000", 0, 0, 0), worker("b", "2000000000000000", 0, 0, 0),
              worker("c", "7000000000000000", 0, 0, 0) }
            local counts, again = { a = 0, b = 0, c = 0 }, true
            for i = 1, 2000 do
              local seed = "task-" .. i .. ":1"
              local pick = selection.draw(candidates, seed).worker.address
              counts[pick] = counts[pick] + 1
              if i <= 100 then again = again and selection.draw(candidates, seed).worker.address == pick end
            end
            local broke = { worker("x", "0", 0, 0, 0), worker("y", "0", 0, 0, 0) }
            return json.encode({ weights = weights, counts = { counts.a, counts.b, counts.c }, again = again,
              zero = selection.draw(broke, "any").worker.address })`)

        // 1000 * 1/1, 1000 * 4/8, 2500 * 11/27, scaled by 10^6 and rounded down.
        expect(got.weights).toEqual(["1000000000", "500000000", "1018518518"])
        expect(got.again).toBe(true)
        const [a, b, c] = got.counts
        expect(a! + b! + c!).toBe(2000)
        // Expected 200 / 400 / 1400; the bounds are about five standard deviations.
        expect(Math.abs(a! - 200)).toBeLessThan(67)
        expect(Math.abs(b! - 400)).toBeLessThan(90)
        expect(Math.abs(c! - 1400)).toBeLessThan(102)
        expect(["x", "y"]).toContain(got.zero)
    })
})
