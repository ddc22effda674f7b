import {beforeAll, describe, expect, it} from "vitest"
import {deployLuaRules} from "../harness/luaRules.ts"
import {seededDraws} from "../harness/seededDraws.ts"

// The channel rules (processes/lib/channels.lua), run inside aos over tables
// of cases on state tables built in Lua: one Eval per rule instead of one
// message per case.

/** Builds a fresh rule state in Lua: workers w1 (serves m1), w2 (ineligible), models m1 (500 bps, owned by mo) and m2. */
const PRELUDE = `
local channels = require("weavelm.channels")
local function fresh()
  return {
    channels = {}, liveChannels = {}, channelOrder = {}, balances = { alice = "10000", bob = "500" },
    workers = {
      w1 = { address = "w1", models = { "m1-id" }, eligible = true },
      w2 = { address = "w2", models = { "m1-id" }, eligible = false },
    },
    models = {
      ["m1-id"] = { id = "m1-id", name = "m1", owner = "mo", ownerFee = 500 },
      ["m2-id"] = { id = "m2-id", name = "m2", owner = "mo", ownerFee = 0 },
    },
    params = { channelRefundLock = 1000 },
  }
end
-- The Error text of a refused call, or nil when it succeeded.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  if ok then return nil end
  return type(err) == "table" and err.text or ("raised: " .. tostring(err))
end
`

describe("channel rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow", PRELUDE)
    })

    it("refuses an Open-Channel for what the mirror does not back, changing nothing", async () => {
        const got = await lua<{errors: Record<string, string | null>; unchanged: boolean; topUps: Record<string, string | null>}>(`
            local s = fresh()
            local function open(req) return refusal(channels.open, s, req, 100) end
            local base = { id = "c-x", owner = "alice", quantity = "100", fromDeposit = true }
            local function with(fields) local r = {} for k, v in pairs(base) do r[k] = v end for k, v in pairs(fields) do r[k] = v end return r end
            local errors = {
              noWorker = open(base),
              unknownWorker = open(with({ worker = "nobody" })),
              ineligible = open(with({ worker = "w2" })),
              unknownModel = open(with({ worker = "w1", model = "m9" })),
              notServed = open(with({ worker = "w1", model = "m2" })),
              overdraw = open(with({ worker = "w1", quantity = "10001" })),
            }
            local unchanged = next(s.channels) == nil and #s.channelOrder == 0 and s.balances.alice == "10000"
            -- One Open channel of alice's, one Closing, and top-ups against them.
            channels.open(s, with({ id = "c1", worker = "w1", model = "m1" }), 100)
            channels.open(s, with({ id = "c2", worker = "w1" }), 100)
            channels.open(s, with({ id = "c3", worker = "w1" }), 100)
            channels.close(s, "c3", "alice", 200, {})
            local function topUp(fields) return open(with(fields)) end
            local topUps = {
              unknown = topUp({ id = "t1", channel = "c9" }),
              notYours = topUp({ id = "t2", channel = "c1", owner = "bob", quantity = "10" }),
              closing = topUp({ id = "t3", channel = "c3" }),
              otherWorker = topUp({ id = "t4", channel = "c1", worker = "w2" }),
              otherModel = topUp({ id = "t5", channel = "c1", model = "m2" }),
              noModel = topUp({ id = "t6", channel = "c2", model = "m1" }),
              byName = topUp({ id = "t7", channel = "c1", model = "m1", worker = "w1" }),
            }
            s.workers.w1.eligible = false
            topUps.nowIneligible = topUp({ id = "t8", channel = "c1" })
            return json.encode({ errors = errors, unchanged = unchanged, topUps = topUps })`)
        expect(got.errors).toEqual({
            noWorker: "Worker is required",
            unknownWorker: "Worker nobody is not an eligible registered worker",
            ineligible: "Worker w2 is not an eligible registered worker",
            unknownModel: "Unknown model m9",
            notServed: "Worker w1 does not serve model m2",
            overdraw: "Insufficient available balance: have 10000, need 10001"
        })
        expect(got.unchanged).toBe(true)
        expect(got.topUps).toEqual({
            unknown: "Unknown channel c9",
            notYours: "Channel c1 is not yours",
            closing: "Channel c3 is not Open (Closing)",
            otherWorker: "Channel c1 is with worker w1",
            otherModel: "Channel c1 is for model m1",
            noModel: "Channel c2 is for no model",
            nowIneligible: "Worker w1 is not an eligible registered worker"
        })
    })

    it("checks a voucher in the documented order and changes nothing when it refuses one", async () => {
        const got = await lua<{errors: Record<string, string>; before: string; after: string}>(`
            local s = fresh()
            channels.open(s, { id = "c1", owner = "alice", worker = "w1", model = "m1", quantity = "1000", fromDeposit = true }, 100)
            channels.redeem(s, { channel = "c1", cumulative = "300", nonce = 5, receiptsRoot = "r1" }, "alice", 110)
            local before = channels.encode(s.channels.c1) .. json.encode(s.balances)
            local function redeem(signer, cumulative, nonce, now)
              return refusal(channels.redeem, s, { channel = "c1", cumulative = cumulative, nonce = nonce, receiptsRoot = "r2" }, signer, now or 120)
            end
            local errors = {
              unknown = refusal(channels.redeem, s, { channel = "c9", cumulative = "1", nonce = 9, receiptsRoot = "r" }, "alice", 120),
              -- Each case breaks its rule and every later one, so only the order explains the answer.
              signer = redeem("mallory", "300", 5),
              stale = redeem("alice", "2000", 5),
              staleLower = redeem("alice", "400", 4),
              overSpend = redeem("alice", "1001", 6),
              nothingNew = redeem("alice", "300", 6),
              lessThanPaid = redeem("alice", "299", 6),
            }
            local after = channels.encode(s.channels.c1) .. json.encode(s.balances)
            channels.close(s, "c1", "alice", 130, {})
            errors.closingLate = redeem("alice", "400", 6, 130 + 1000)
            errors.closingSigner = redeem("mallory", "400", 6, 130 + 1000)
            channels.finalize(s, s.channels.c1)
            errors.closed = redeem("alice", "2000", 5, 131)
            return json.encode({ errors = errors, before = before, after = after })`)
        expect(got.errors).toEqual({
            unknown: "Unknown channel c9",
            signer: "Voucher is not signed by the channel's owner",
            stale: "Stale voucher: nonce 5 is not above 5",
            staleLower: "Stale voucher: nonce 4 is not above 5",
            overSpend: "Voucher over-spends the channel: 1001 > 1000",
            nothingNew: "Voucher pays nothing new",
            lessThanPaid: "Voucher pays nothing new",
            closingLate: "Channel c1 closed at Closes-At 1130",
            closingSigner: "Voucher is not signed by the channel's owner",
            closed: "Channel c1 is Closed"
        })
        expect(got.after).toBe(got.before)
    })

    it("splits each redemption between worker and model owner as floor(amount * bps / (10000 + bps)), over many amounts", async () => {
        const next = seededDraws(777n)
        // Per case: a fee in basis points and a rising list of cumulative amounts up to 10^30.
        const cases = Array.from({length: 40}, (_, i) => {
            const scale = 10n ** BigInt(i % 28)
            let cumulative = 0n
            const steps = Array.from({length: 1 + Number(next(4n))}, () => (cumulative += 1n + next(100_000n) * scale).toString())
            return {bps: i % 7 === 0 ? 0 : Number(next(10_001n)), steps, deposit: (cumulative + next(1000n)).toString()}
        })
        const got = await lua<
            Array<{shares: Array<{worker: string; owner: string; amount: string}>; balances: Record<string, string>; locked: string}>
        >(`
            local out = {}
            for i, c in ipairs(json.decode([==[${JSON.stringify(cases)}]==])) do
              local s = fresh()
              s.models["m1-id"].ownerFee = c.bps
              s.balances.alice = c.deposit
              channels.open(s, { id = "c", owner = "alice", worker = "w1", model = "m1-id", quantity = c.deposit, fromDeposit = true }, 1)
              local shares = {}
              for n, cumulative in ipairs(c.steps) do
                local sent = channels.redeem(s, { channel = "c", cumulative = cumulative, nonce = n, receiptsRoot = "r" }, "alice", 2)
                shares[n] = { worker = sent[1]["Worker-Share"], owner = sent[1]["Owner-Share"], amount = sent[1].Amount }
              end
              out[i] = { shares = shares, balances = s.balances, locked = channels.locked(s) }
            end
            return json.encode(out)`)
        for (const [i, c] of cases.entries()) {
            const bps = BigInt(c.bps)
            let paid = 0n,
                worker = 0n,
                owner = 0n
            const expected = c.steps.map((step) => {
                const amount = BigInt(step) - paid
                paid = BigInt(step)
                const o = (amount * bps) / (10_000n + bps)
                worker += amount - o
                owner += o
                return {worker: (amount - o).toString(), owner: o.toString(), amount: amount.toString()}
            })
            expect(got[i]!.shares, JSON.stringify(c)).toEqual(expected)
            const balances = got[i]!.balances
            expect(BigInt(balances.w1 ?? "0")).toBe(worker)
            expect(BigInt(balances.mo ?? "0")).toBe(owner)
            expect(BigInt(got[i]!.locked)).toBe(BigInt(c.deposit) - paid)
        }
    })

    it("closes after the lock, refunds the unpaid rest, and counts only channels not Closed as locked", async () => {
        const got = await lua<{
            closing: Record<string, string>
            due: string[][]
            closed: Array<Record<string, string>>
            locked: string[]
            balances: Record<string, string>
            again: string | null
            upkept: unknown[]
            records: string
        }>(`
            local s = fresh()
            s.balances.bob = "5000"
            channels.open(s, { id = "c1", owner = "alice", worker = "w1", quantity = "1000", fromDeposit = true }, 100)
            channels.open(s, { id = "c2", owner = "bob", worker = "w1", model = "m1", quantity = "700", fromDeposit = true }, 100)
            channels.open(s, { id = "c1", owner = "alice", worker = "w1", quantity = "500", fromDeposit = false, channel = "c1" }, 105)
            channels.redeem(s, { channel = "c1", cumulative = "400", nonce = 1, receiptsRoot = "r" }, "alice", 110)
            local locked = { channels.locked(s), channels.locked(s, "alice"), channels.locked(s, "bob") }
            local notOwner = refusal(channels.close, s, "c1", "w1", 120, {})
            local out, reply = channels.close(s, "c1", "alice", 120, {})
            channels.close(s, "c2", "bob", 150, {})
            local function ids(list) local r = {} for i, c in ipairs(list) do r[i] = c.id end return r end
            local due = { ids(channels.due(s, 1119)), ids(channels.due(s, 1120)), ids(channels.due(s, 1150)) }
            local closed = channels.finalize(s, s.channels.c1)
            locked[#locked + 1] = channels.locked(s)
            local again = refusal(channels.close, s, "c1", "alice", 2000, {})
            local upkept = { channels.close(s, "c1", "alice", 2000, { c1 = true }) }
            local stillClosing = refusal(channels.close, s, "c2", "bob", 151, {})
            return json.encode({ closing = { worker = out[1], owner = reply, notOwner = notOwner, stillClosing = stillClosing },
              due = due, closed = closed, locked = locked, balances = s.balances, again = again, upkept = upkept,
              records = channels.encodeList(channels.list(s, {}, 10)) })`)
        expect(got.locked).toEqual(["1800", "1100", "700", "700"])
        expect(got.closing.notOwner).toBe("Only the channel's owner may close it")
        expect(got.closing.worker).toEqual({
            Target: "w1",
            Action: "Channel-Closing",
            Channel: "c1",
            "Closes-At": "1120",
            Deposited: "1500",
            Paid: "400"
        })
        expect(got.closing.owner).toEqual({Action: "Channel-Closing", Channel: "c1", "Closes-At": "1120", Deposited: "1500", Paid: "400"})
        expect(got.closing.stillClosing).toBe("Channel c2 is already Closing until Closes-At 1150")
        // Due once now >= Closes-At, in id order.
        expect(got.due).toEqual([[], ["c1"], ["c1", "c2"]])
        expect(got.closed).toEqual([
            {Target: "w1", Action: "Channel-Closed", Channel: "c1", Refunded: "1100"},
            {Target: "alice", Action: "Channel-Closed", Channel: "c1", Refunded: "1100"}
        ])
        // alice: 10000 - 1000 deposited + 1100 refunded (the 500 top-up came by transfer); w1 was paid 400.
        expect(got.balances).toMatchObject({alice: "10100", bob: "4300", w1: "400"})
        expect(got.again).toBe("Channel c1 is already Closed")
        expect(got.upkept).toEqual([[]])
        expect(JSON.parse(got.records)).toEqual([
            {
                id: "c2",
                owner: "bob",
                worker: "w1",
                model: "m1-id",
                deposited: "700",
                paid: "0",
                nonce: 0,
                receiptsRoot: null,
                redemptions: 0,
                state: "Closing",
                openedAt: 100,
                closesAt: 1150
            },
            {
                id: "c1",
                owner: "alice",
                worker: "w1",
                model: null,
                deposited: "1500",
                paid: "400",
                nonce: 1,
                receiptsRoot: "r",
                redemptions: 1,
                state: "Closed",
                openedAt: 100,
                closesAt: 1120
            }
        ])
    })

    it("writes the ChannelRecord exactly: explicit nulls, 15-digit nonces and timestamps as integers, escaped strings", async () => {
        const got = await lua<{text: string}>(`
            local s = fresh()
            channels.open(s, { id = "c\\"1", owner = "alice", worker = "w1", quantity = "1", fromDeposit = false }, 1700000000123)
            s.channels['c"1'].nonce = 999999999999999
            return json.encode({ text = channels.encode(s.channels['c"1']) })`)
        expect(got.text).toBe(
            '{"id":"c\\"1","owner":"alice","worker":"w1","model":null,"deposited":"1","paid":"0",' +
                '"nonce":999999999999999,"receiptsRoot":null,"redemptions":0,"state":"Open","openedAt":1700000000123,"closesAt":null}'
        )
        expect(JSON.parse(got.text)).toMatchObject({id: 'c"1', nonce: 999999999999999})
    })
})
