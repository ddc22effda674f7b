import {createHash, randomBytes} from "node:crypto"
import {beforeAll, describe, expect, it} from "vitest"
import {deterrentSlash, leastBond, slashQuantity} from "../../sdk/escrow/index.ts"
import {challengeSecret, drawSeedOf, revealedCommittee, workerSeed} from "../harness/disputeWorld.ts"
import {expectedCommittee, type DrawRecord} from "../harness/draw.ts"
import {deployLuaRules} from "../harness/luaRules.ts"

// The dispute rules (processes/lib/disputes.lua), run inside aos over tables
// of cases: one Eval per rule instead of one message per case.

const newId = () => randomBytes(32).toString("base64url")
const setOf = (committee: string[]) => [...committee].sort().join(",")

describe("dispute rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow", `local disputes = require("weavelm.disputes")`)
    })

    it("draws a committee without replacement, weighted by stake and reputation, among eligible, fresh, serving workers", async () => {
        const model = newId(),
            other = newId()
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
        const stale = {
            ...base,
            address: newId(),
            stake: "9",
            lastHeartbeat: now - 60_001,
            reputation: {completed: 0, strikes: 0, slashed: 0}
        }
        const elsewhere = {...base, address: newId(), stake: "9", models: [other], reputation: {completed: 0, strikes: 0, slashed: 0}}
        const all = [...workers, ineligible, stale, elsewhere]
        const seeds = Array.from({length: 12}, () => `${newId()}:referee`)

        const got = await lua<{candidates: string[]; committees: string[][]; again: boolean; short: string}>(`
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
        const got = await lua<
            Array<{verdict: string | null; valid: number; invalid: number; majority: string[]; struck: string[]; quorum: number}>
        >(`
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
            expect([...got[i]!.struck], label).toEqual(
                committee.filter((_, j) => (votes[j] !== null && votes[j] !== verdict) || (final && votes[j] === null))
            )
        }
        // Undecided strikes only the silent, and only at the deadline.
        const undecided = got[7]!
        expect({majority: [...undecided.majority], struck: [...undecided.struck]}).toEqual({majority: [], struck: ["c"]})
        expect([...got[8]!.struck]).toEqual(["a", "b", "c"])
    })

    it("splits a bond between majority referees and the worker, and slash proceeds between referees, challenger and treasury", async () => {
        const bonds: Array<[string, number, string]> = [
            ["1000", 2, "100"],
            ["1000", 3, "100"],
            ["1000", 1, "0"],
            ["150", 2, "100"],
            ["7", 0, "100"]
        ]
        const proceeds: Array<[string, number, string, number]> = [
            ["3000", 2, "100", 5000],
            ["3001", 3, "100", 5000],
            ["150", 2, "100", 5000],
            ["5", 3, "100", 5000],
            ["0", 2, "100", 5000],
            ["1000", 1, "0", 10000],
            ["1000", 1, "0", 0],
            ["99999999999999999999999999", 2, "100", 3333]
        ]
        const got = await lua<{
            bonds: Array<{referee: string; worker: string}>
            proceeds: Array<{referee: string; reward: string; treasury: string}>
        }>(`
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
            const reward = (rest * BigInt(share)) / 10000n
            expect(got.proceeds[i], JSON.stringify(proceeds[i])).toEqual({
                referee: String(each),
                reward: String(reward),
                treasury: String(rest - reward)
            })
            // Nothing is created or lost.
            expect(BigInt(got.proceeds[i]!.referee) * BigInt(m) + BigInt(got.proceeds[i]!.reward) + BigInt(got.proceeds[i]!.treasury)).toBe(
                BigInt(p)
            )
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
            [{"Challenger-Share": "10001"}, "Challenger-Share must be at most 10000"],
            [{"Seed-Timeout": "1500", "Reveal-Timeout": "2500", "Audit-Rate": "10000"}, null],
            [{"Seed-Timeout": "0"}, "Seed-Timeout must be at least 1"],
            [{"Reveal-Timeout": "10000000000001"}, "Reveal-Timeout must be at most 10000000000000"],
            [{"Audit-Rate": "0"}, "Audit-Rate must be at least 1"],
            [{"Audit-Rate": "1000001"}, "Audit-Rate must be at most 1000000"]
        ]
        const got = await lua<Array<{ok: boolean; error?: string; params?: Record<string, unknown>}>>(`
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
        expect(got[0]!.params).toEqual({
            challengeBond: "1000",
            refereeCount: 3,
            refereeFee: "100",
            refereeTimeout: 3600000,
            slashAmount: "all",
            challengerShare: 5000,
            seedTimeout: 600000,
            revealTimeout: 600000,
            auditRate: 1000000
        })
        expect(got[11]!.params).toMatchObject({slashAmount: "2500"})
        expect(got[15]!.params).toMatchObject({seedTimeout: 1500, revealTimeout: 2500, auditRate: 10000})
    })

    it("hashes with aos's SHA-256, and seeds the draw with SHA-256 of secret, worker seed and challenge id", async () => {
        // In address order, as disputes.referees lists them for the snapshot.
        const candidates = Array.from({length: 7}, (_, i) => ({
            address: newId(),
            stake: String((i + 1) * 1000),
            reputation: {completed: i, strikes: i % 2, slashed: 0}
        })).sort((a, b) => (a.address < b.address ? -1 : 1))
        const cases = Array.from({length: 8}, (_, i) => ({...challengeSecret(), seed: i % 4 === 0 ? "" : workerSeed(), id: newId()}))
        const texts = ["", "abc", "x".repeat(1000), Buffer.from(Array.from({length: 256}, (_, i) => i)).toString("latin1")]
        const got = await lua<{hashes: string[]; draws: Array<{commit: string; drawSeed: string; committee: string[]}>}>(`
            local candidates = disputes.fromSnapshot(json.decode([==[${JSON.stringify(candidates)}]==]))
            local hashes = {}
            for i, hex in ipairs(json.decode([==[${JSON.stringify(texts.map((t) => Buffer.from(t, "latin1").toString("hex")))}]==])) do
              hashes[i] = disputes.sha256((hex:gsub("..", function(b) return string.char(tonumber(b, 16)) end)))
            end
            local draws = {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(cases)}]==])) do
              local seed = disputes.drawSeed(c.secret, c.seed ~= "" and c.seed or nil, c.id)
              draws[i] = { commit = disputes.sha256(c.secret), drawSeed = seed,
                committee = disputes.drawCommittee(candidates, 3, seed .. ":referee") }
            end
            return json.encode({ hashes = hashes, draws = draws })`)

        expect(got.hashes).toEqual(texts.map((t) => createHash("sha256").update(Buffer.from(t, "latin1")).digest("hex")))
        for (const [i, c] of cases.entries()) {
            const seed = c.seed === "" ? null : c.seed
            expect(got.draws[i]).toEqual({
                commit: c.seedCommit,
                drawSeed: drawSeedOf(c.secret, seed, c.id),
                committee: revealedCommittee(candidates, 3, c.secret, seed, c.id)
            })
        }
    })

    it("no longer lets a challenger pick its committee by grinding: the worker's seed redraws it", async () => {
        // Six equal candidates: any three are a committee with probability 1/20. The challenger wants
        // its three friends, who would vote as it asks.
        const candidates: DrawRecord[] = Array.from({length: 6}, () => ({
            address: newId(),
            stake: "5000",
            reputation: {completed: 0, strikes: 0, slashed: 0}
        })).sort((a, b) => (a.address < b.address ? -1 : 1))
        const friends = setOf(candidates.slice(0, 3).map((c) => c.address))

        // The old rule drew with the challenge's own id: two challengers, each signing variants of its
        // Challenge offline until one draws its friends, both get exactly the committee they chose.
        const grindOld = () => {
            for (let tries = 1; tries <= 2000; tries++) {
                const id = newId()
                if (setOf(expectedCommittee(candidates, 3, `${id}:referee`)) === friends) return id
            }
            throw new Error("no id drew the friends in 2000 tries")
        }
        const chosen = [grindOld(), grindOld()]
        for (const id of chosen) expect(setOf(expectedCommittee(candidates, 3, `${id}:referee`))).toBe(friends)

        // The new rule: the most a challenger can grind offline is its id and secret for a worker that
        // stays silent (it cannot know the seed the worker will send). Each of two challengers does so.
        const grindNew = () => {
            for (let tries = 1; tries <= 2000; tries++) {
                const id = newId(),
                    {secret} = challengeSecret()
                if (setOf(revealedCommittee(candidates, 3, secret, null, id)) === friends) return {id, secret}
            }
            throw new Error("no secret drew the friends in 2000 tries")
        }
        const challenges = [grindNew(), grindNew()]
        // With the worker's seed the committee follows from the seed, not from the challenger's choice.
        const seeds = Array.from({length: 400}, () => workerSeed())
        for (const {id, secret} of challenges) {
            const committees = seeds.map((seed) => setOf(revealedCommittee(candidates, 3, secret, seed, id)))
            const friendly = committees.filter((c) => c === friends).length
            // 1/20 of 400 is 20; six standard deviations above it is 46.
            expect(friendly).toBeLessThan(47)
            expect(new Set(committees).size).toBeGreaterThanOrEqual(18)
        }
        const both = seeds.filter((seed) =>
            challenges.every(({id, secret}) => setOf(revealedCommittee(candidates, 3, secret, seed, id)) === friends)
        )
        expect(both.length).toBeLessThan(10)

        // Nor can the worker grind: it knows only the Seed-Commit, so whatever seed it picks, the
        // committee moves with the secret it cannot see.
        const picked = workerSeed()
        const overSecrets = Array.from({length: 400}, () =>
            setOf(revealedCommittee(candidates, 3, challengeSecret().secret, picked, chosen[0]!))
        )
        expect(overSecrets.filter((c) => c === friends).length).toBeLessThan(47)

        // The escrow's own draw is the one analysed: the first challenge under the first 20 seeds.
        const {id, secret} = challenges[0]!
        const got = await lua<string[][]>(`
            local candidates = disputes.fromSnapshot(json.decode([==[${JSON.stringify(candidates)}]==]))
            local out = {}
            for i, seed in ipairs(json.decode([==[${JSON.stringify(seeds.slice(0, 20))}]==])) do
              out[i] = disputes.drawCommittee(candidates, 3, disputes.drawSeed("${secret}", seed, "${id}") .. ":referee")
            end
            out[21] = disputes.drawCommittee(candidates, 3, disputes.drawSeed("${secret}", nil, "${id}") .. ":referee")
            return json.encode(out)`)
        expect(got.slice(0, 20)).toEqual(seeds.slice(0, 20).map((seed) => revealedCommittee(candidates, 3, secret, seed, id)))
        expect(setOf(got[20]!)).toBe(friends)
    })

    it("sizes the slash from the fee and the audit rate, and the least bond from the committee's fees and the fee", async () => {
        const slashes: Array<[string, string, number]> = [
            ["87", "all", 1000000],
            ["87", "100", 1000000],
            ["87", "100", 100000],
            ["87", "1000", 10000],
            ["87", "1000", 7],
            ["0", "1", 1],
            ["1", "1", 3],
            ["99999999999999999999999999", "5", 10000],
            ["1000", "999999", 1000]
        ]
        const bonds: Array<[string, number, string, string]> = [
            ["1000", 3, "100", "87"],
            ["1000", 3, "100", "700"],
            ["1000", 3, "100", "701"],
            ["300", 3, "100", "0"],
            ["5", 15, "0", "6"]
        ]
        const got = await lua<{slashes: Array<{quantity: string; deterrent: string}>; bonds: string[]}>(`
            local selection = require("weavelm.selection")
            local slashes, bonds = {}, {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(slashes)}]==])) do
              slashes[i] = { quantity = disputes.slashQuantity(c[2], c[1], c[3]), deterrent = selection.deterrentSlash(c[1], c[3]) }
            end
            for i, c in ipairs(json.decode([==[${JSON.stringify(bonds)}]==])) do
              bonds[i] = disputes.leastBond({ challengeBond = c[1], refereeCount = c[2], refereeFee = c[3] }, c[4])
            end
            return json.encode({ slashes = slashes, bonds = bonds })`)
        for (const [i, [fee, slashAmount, auditRate]] of slashes.entries()) {
            const deterrent = (BigInt(fee) * 1_000_000n + BigInt(auditRate) - 1n) / BigInt(auditRate)
            const quantity =
                slashAmount === "all" ? "9".repeat(38) : String(BigInt(slashAmount) > deterrent ? BigInt(slashAmount) : deterrent)
            expect(got.slashes[i], JSON.stringify(slashes[i])).toEqual({quantity, deterrent: String(deterrent)})
            // The SDK computes the same.
            expect(deterrentSlash(fee, auditRate)).toBe(deterrent)
            const sdk = slashQuantity({slashAmount, auditRate}, fee)
            expect(sdk === "all" ? "9".repeat(38) : String(sdk)).toBe(quantity)
        }
        // The worked example of docs/protocol.md: a fee of 87 at 1% audits needs a slash of 8700.
        expect(got.slashes[3]!.quantity).toBe("8700")
        for (const [i, [challengeBond, refereeCount, refereeFee, fee]] of bonds.entries())
            expect(got.bonds[i], JSON.stringify(bonds[i])).toBe(String(leastBond({challengeBond, refereeCount, refereeFee}, fee)))
        expect(got.bonds).toEqual(["1000", "1000", "1001", "300", "6"])
    })

    it("assigns a task only to a worker whose stake covers the slash its quote would need", async () => {
        const model = newId()
        const now = 1_700_000_000_000
        // Quotes for 100 tokens at 2000 per 1000 and no owner fee: 200; at 10% audits the slash is 2000.
        const worker = (stake: string) => ({
            address: newId(),
            models: [model],
            priceInput: "1000",
            priceOutput: "2000",
            stake,
            maxConcurrency: 4,
            eligible: true,
            lastHeartbeat: now,
            heartbeatTimeout: 60_000,
            reputation: {completed: 0, strikes: 0, slashed: 0}
        })
        const rich = worker("2000"),
            poor = worker("1999")
        const got = await lua<{both: string[]; ten: string[]; none: string; off: string[]}>(`
            local selection = require("weavelm.selection")
            local list = json.decode([==[${JSON.stringify([rich, poor])}]==])
            local workers = {}
            for _, w in ipairs(list) do workers[w.address] = w end
            local function addresses(candidates, reason)
              if not candidates then return reason end
              local out = {}
              for i, c in ipairs(candidates) do out[i] = c.worker.address end
              table.sort(out)
              return out
            end
            local function task(rate)
              return { model = { id = "${model}", name = "toy", ownerFee = 0 }, maxTokens = 100, maxFee = "1000", exclude = {}, auditRate = rate }
            end
            local tooPoor = task(99999)
            return json.encode({
              both = addresses(selection.candidates(workers, task(1000000), {}, ${now})),
              ten = addresses(selection.candidates(workers, task(100000), {}, ${now})),
              none = addresses(selection.candidates(workers, tooPoor, {}, ${now})),
              off = addresses(selection.candidates(workers, task(nil), {}, ${now})),
            })`)
        expect(got.both).toEqual([rich.address, poor.address].sort())
        expect(got.ten).toEqual([rich.address])
        expect(got.none).toBe("No worker serving model toy within Max-Fee stakes the slash its quote needs at Audit-Rate 99999 ppm")
        expect(got.off).toEqual([rich.address, poor.address].sort())
    })
})
