import {randomBytes} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import {expectedCommittee} from "../harness/draw.ts"
import {deployLuaRules} from "../harness/luaRules.ts"

// The dispute rules (processes/lib/disputes.lua), run inside aos over tables
// of cases: one Eval per rule instead of one message per case.

const newId = () => randomBytes(32).toString("base64url")

describe("dispute rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow", `local disputes = require("weavelm.disputes")`)
    })

    it("draws a committee without replacement, weighted by stake and reputation, among eligible, fresh, serving workers", async () => {
        const model = newId(), other = newId()
        const now = 1_700_000_000_000
        const base = {models: [model], eligible: true, lastHeartbeat: now - 1000, heartbeatTimeout: 60_000}
        const workers = [
            {...base, address: newId(), stake: "4000000000000", reputation: {completed: 0, strikes: 0, slashed: 0}},
            {...base, address: newId(), stake: "1000000000000", reputation: {completed: 5, strikes: 1, slashed: 0}},
            {...base, address: newId(), stake: "9000000000000", reputation: {completed: 2, strikes: 0, slashed: 1}},
            {...base, address: newId(), stake: "2500000000000", reputation: {completed: 0, strikes: 3, slashed: 0}},
            {...base, address: newId(), stake: "7000000000000", reputation: {completed: 9, strikes: 0, slashed: 0}},
            {...base, address: newId(), stake: "3000000000000", reputation: {completed: 1, strikes: 0, slashed: 0}}
        ]
        const excluded = workers[0]!.address
        const ineligible = {...base, address: newId(), stake: "9", eligible: false, reputation: {completed: 0, strikes: 0, slashed: 0}}
        const stale = {...base, address: newId(), stake: "9", lastHeartbeat: now - 60_001, reputation: {completed: 0, strikes: 0, slashed: 0}}
        const elsewhere = {...base, address: newId(), stake: "9", models: [other], reputation: {completed: 0, strikes: 0, slashed: 0}}
        const all = [...workers, ineligible, stale, elsewhere]
        const seeds = Array.from({length: 12}, () => `${newId()}:referee`)

        const got = await lua<{candidates: string[], committees: string[][], again: boolean, short: string}>(`
            local all = json.decode([==[${JSON.stringify(all)}]==])
            local workers = {}
            for _, w in ipairs(all) do workers[w.address] = w end
            local candidates = disputes.referees(workers, "${model}", { ["${excluded}"] = true }, ${now})
            local addresses = {}
            for i, c in ipairs(candidates) do addresses[i] = c.worker.address end
            local committees, again = {}, true
            for i, seed in ipairs(json.decode([==[${JSON.stringify(seeds)}]==])) do
              committees[i] = disputes.drawCommittee(candidates, 3, seed)
              again = again and table.concat(disputes.drawCommittee(candidates, 3, seed), ",") == table.concat(committees[i], ",")
            end
            local ok, err = pcall(disputes.drawCommittee, candidates, 6, "x")
            return json.encode({ candidates = addresses, committees = committees, again = again, short = err.text })`)

        const eligible = workers.slice(1)
        expect(got.candidates).toEqual(eligible.map((w) => w.address).sort())
        expect(got.again).toBe(true)
        expect(got.short).toBe("Only 5 eligible referees; Referee-Count is 6")
        for (const [i, committee] of got.committees.entries()) {
            expect(new Set(committee).size).toBe(3)
            expect(committee).toEqual(expectedCommittee(eligible, 3, seeds[i]!))
        }
        // Twelve draws of 3 among 5 reach more than one committee.
        expect(new Set(got.committees.map((c) => [...c].sort().join(","))).size).toBeGreaterThan(1)
    })

    it("decides at a strict majority of the committee, and at the deadline by those who answered", async () => {
        const cases: Array<[string[], Array<string | null>, boolean, string | null]> = [
            [["a", "b", "c"], [null, null, null], false, null],
            [["a", "b", "c"], ["Valid", null, null], false, null],
            [["a", "b", "c"], ["Valid", "Invalid", null], false, null],
            [["a", "b", "c"], ["Invalid", null, "Invalid"], false, "Invalid"],
            [["a", "b", "c"], ["Valid", "Valid", "Invalid"], false, "Valid"],
            [["a", "b", "c"], ["Valid", null, null], true, "Valid"],
            [["a", "b", "c"], [null, "Invalid", null], true, "Invalid"],
            [["a", "b", "c"], ["Valid", "Invalid", null], true, "Undecided"],
            [["a", "b", "c"], [null, null, null], true, "Undecided"],
            [["a", "b", "c", "d"], ["Valid", "Valid", "Invalid", null], false, null],
            [["a", "b", "c", "d"], ["Valid", "Valid", "Invalid", null], true, "Valid"],
            [["a", "b", "c", "d"], ["Invalid", "Invalid", "Invalid", null], false, "Invalid"],
            [["a"], ["Invalid"], false, "Invalid"]
        ]
        const got = await lua<Array<{verdict: string | null, valid: number, invalid: number, majority: string[], struck: string[], quorum: number}>>(`
            local out = {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(cases.map(([committee, votes, final]) => ({committee, votes: votes.map((v) => v ?? ""), final})))}]==])) do
              local votes = {}
              for j, v in ipairs(c.votes) do
                if v ~= "" then votes[c.committee[j]] = { verdict = v } end
              end
              local verdict, valid, invalid = disputes.tally(c.committee, votes, c.final)
              local majority, struck = disputes.judge(c.committee, votes, verdict or "Undecided", c.final)
              out[i] = { verdict = verdict or json.null, valid = valid, invalid = invalid, majority = majority, struck = struck,
                quorum = disputes.quorum(#c.committee) }
            end
            return json.encode(out)`)

        for (const [i, [committee, votes, final, verdict]] of cases.entries()) {
            const label = JSON.stringify(cases[i])
            expect(got[i]!.verdict ?? null, label).toBe(verdict)
            expect(got[i]!.quorum, label).toBe(Math.floor(committee.length / 2) + 1)
            if (verdict === null || verdict === "Undecided") continue
            expect([...got[i]!.majority], label).toEqual(committee.filter((_, j) => votes[j] === verdict))
            expect([...got[i]!.struck], label).toEqual(committee.filter((_, j) => (votes[j] !== null && votes[j] !== verdict) || (final && votes[j] === null)))
        }
        // Undecided strikes only the silent, and only at the deadline.
        const undecided = got[7]!
        expect({majority: [...undecided.majority], struck: [...undecided.struck]}).toEqual({majority: [], struck: ["c"]})
        expect([...got[8]!.struck]).toEqual(["a", "b", "c"])
    })

    it("splits a bond between majority referees and the worker, and slash proceeds between referees, challenger and treasury", async () => {
        const bonds: Array<[string, number, string]> = [["1000", 2, "100"], ["1000", 3, "100"], ["1000", 1, "0"], ["150", 2, "100"], ["7", 0, "100"]]
        const proceeds: Array<[string, number, string, number]> = [
            ["3000", 2, "100", 5000], ["3001", 3, "100", 5000], ["150", 2, "100", 5000], ["5", 3, "100", 5000],
            ["0", 2, "100", 5000], ["1000", 1, "0", 10000], ["1000", 1, "0", 0], ["99999999999999999999999999", 2, "100", 3333]
        ]
        const got = await lua<{bonds: Array<{referee: string, worker: string}>, proceeds: Array<{referee: string, reward: string, treasury: string}>}>(`
            local bonds, proceeds = {}, {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(bonds)}]==])) do bonds[i] = disputes.bondSplit(c[1], c[2], c[3]) end
            for i, c in ipairs(json.decode([==[${JSON.stringify(proceeds)}]==])) do proceeds[i] = disputes.proceedsSplit(c[1], c[2], c[3], c[4]) end
            return json.encode({ bonds = bonds, proceeds = proceeds })`)

        const min = (a: bigint, b: bigint) => (a < b ? a : b)
        for (const [i, [bond, m, fee]] of bonds.entries()) {
            const each = m > 0 ? min(BigInt(fee), BigInt(bond) / BigInt(m)) : BigInt(fee)
            expect(got.bonds[i], JSON.stringify(bonds[i])).toEqual({referee: String(each), worker: String(BigInt(bond) - each * BigInt(m))})
        }
        for (const [i, [p, m, fee, share]] of proceeds.entries()) {
            const each = min(BigInt(fee), BigInt(p) / BigInt(m))
            const rest = BigInt(p) - each * BigInt(m)
            const reward = rest * BigInt(share) / 10000n
            expect(got.proceeds[i], JSON.stringify(proceeds[i])).toEqual({referee: String(each), reward: String(reward), treasury: String(rest - reward)})
            // Nothing is created or lost.
            expect(BigInt(got.proceeds[i]!.referee) * BigInt(m) + BigInt(got.proceeds[i]!.reward) + BigInt(got.proceeds[i]!.treasury)).toBe(BigInt(p))
        }
        expect(got.proceeds[0]).toEqual({referee: "100", reward: "1400", treasury: "1400"})
    })

    it("validates the dispute parameters of a Configure", async () => {
        const cases: Array<[Record<string, string>, string | null]> = [
            [{}, null],
            [{"Referee-Count": "5", "Challenge-Bond": "500"}, null],
            [{"Referee-Count": "5"}, null],
            [{"Referee-Count": "11"}, "Challenge-Bond 1000 is below Referee-Count x Referee-Fee 1100"],
            [{"Referee-Fee": "400"}, "Challenge-Bond 1000 is below Referee-Count x Referee-Fee 1200"],
            [{"Referee-Count": "0"}, "Referee-Count must be at least 1"],
            [{"Referee-Count": "16"}, "Referee-Count must be at most 15"],
            [{"Challenge-Bond": "0"}, "Challenge-Bond must be greater than 0"],
            [{"Referee-Fee": "0"}, null],
            [{"Referee-Timeout": "0"}, "Referee-Timeout must be at least 1"],
            [{"Slash-Amount": "all"}, null],
            [{"Slash-Amount": "2500"}, null],
            [{"Slash-Amount": "half"}, "Slash-Amount must be a non-negative integer string"],
            [{"Slash-Amount": "0"}, "Slash-Amount must be greater than 0"],
            [{"Challenger-Share": "10001"}, "Challenger-Share must be at most 10000"]
        ]
        const got = await lua<Array<{ok: boolean, error?: string, params?: Record<string, unknown>}>>(`
            local out = {}
            for i, tags in ipairs(json.decode([==[${JSON.stringify(cases.map(([tags]) => tags))}]==])) do
              local ok, res = pcall(disputes.configure, disputes.DEFAULTS, { Tags = tags })
              if ok then out[i] = { ok = true, params = res } else out[i] = { ok = false, error = res.text } end
            end
            return json.encode(out)`)
        for (const [i, [tags, error]] of cases.entries()) {
            if (error === null) expect(got[i], JSON.stringify(tags)).toMatchObject({ok: true})
            else expect(got[i], JSON.stringify(tags)).toEqual({ok: false, error})
        }
        expect(got[0]!.params).toEqual({challengeBond: "1000", refereeCount: 3, refereeFee: "100", refereeTimeout: 3600000,
            slashAmount: "all", challengerShare: 5000})
        expect(got[11]!.params).toMatchObject({slashAmount: "2500"})
    })
})
