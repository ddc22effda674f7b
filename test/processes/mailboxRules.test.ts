import {beforeAll, describe, expect, it} from "vitest"
import {inboxKey} from "../../sdk/escrow/mailbox.ts"
import {deployLuaRules} from "../harness/luaRules.ts"

// The mailbox and Apus rules (processes/lib/mailbox.lua, processes/lib/apus.lua)
// inside aos, over tables of cases: one Eval per rule instead of one message
// per case.

const PRELUDE = `
local mailbox = require("weavelm.mailbox")
local apus = require("weavelm.apus")
local function isProcess(target) return target == "token" or target == "registry" end
-- The Error text of a refused call, or nil when it succeeded.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  if ok then return nil end
  return type(err) == "table" and err.text or ("raised: " .. tostring(err))
end
`

interface Entry {
    seq: number
    target: string
    tags: Record<string, string>
    data: string
}
interface Box {
    next: number
    messages: Entry[]
}

describe("mailbox rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow", PRELUDE)
    })

    it("keys a recipient by the hex of its bytes, as the SDK's reader does", async () => {
        const address = "ohqMS1xfJTnvFfYozK7dVIGqQ2KhEhZuZK7BVgeNS-8"
        const keys = await lua<string[]>(`return json.encode({ mailbox.inboxKey("Ab"), mailbox.inboxKey("${address}") })`)
        expect(keys).toEqual(["inbox-4162", inboxKey(address)])
    })

    it("publishes patches by default only for a HyperBEAM process (Variant ao.N.1)", async () => {
        expect(
            await lua<string[]>(`return json.encode({
            mailbox.defaultPublishing({ { name = "Name", value = "x" }, { name = "Variant", value = "ao.N.1" } }),
            mailbox.defaultPublishing({ { name = "variant", value = "ao.N.1" } }),
            mailbox.defaultPublishing({ { name = "Variant", value = "ao.TN.1" } }),
            mailbox.defaultPublishing({}),
            mailbox.defaultPublishing({ Name = "x", Variant = "ao.N.1" }),
            mailbox.defaultPublishing({ Variant = "ao.TN.1" }) })`)
        ).toEqual(["on", "on", "off", "off", "on", "off"])
    })

    it("records a message's own tags, from the root or a Tags list or map, as strings", async () => {
        const entries = await lua<Array<Omit<Entry, "seq">>>(`
            return json.encode({
              mailbox.entry({ Target = "w", Action = "Task-Assigned", Attempt = 1, Data = "prompt", Anchor = "x", From = "y" }),
              mailbox.entry({ Target = "w", Tags = { { name = "Action", value = "A" }, { name = "N", value = 2 } } }),
              mailbox.entry({ Target = "w", Tags = { Action = "B" } }),
            })`)
        expect(entries).toEqual([
            {target: "w", tags: {Action: "Task-Assigned", Attempt: "1"}, data: "prompt"},
            {target: "w", tags: {Action: "A", N: "2"}, data: ""},
            {target: "w", tags: {Action: "B"}, data: ""}
        ])
    })

    it("records wallets, dApps and every Infer-Result; not the token, the registry, untargeted messages, Published answers", async () => {
        const got = await lua<{keys: string[]; boxes: Record<string, Box>}>(`
            local boxes, changed = {}, {}
            for _, m in ipairs({
              { Target = "token", Action = "Transfer" }, { Target = "registry", Action = "Record-Outcome" },
              { device = "patch@1.0", cache = { k = "v" } },
              { Target = "alice", Action = "Published-Response", Data = "{}" }, { Target = "alice", Action = "Published-Error" },
              { Target = "alice", Action = "Infer-Accepted", ["X-Reference"] = "r1" },
              { Target = "alice", Action = "Infer-Result", ["Task-Id"] = "t1", Data = "out" },
            }) do mailbox.record(boxes, changed, m, isProcess) end
            local keys = {}
            for k in pairs(changed) do keys[#keys + 1] = k end
            table.sort(keys)
            return json.encode({ keys = keys, boxes = boxes })`)
        expect(got.keys).toEqual([inboxKey("alice"), "results"])
        expect(Object.keys(got.boxes).sort()).toEqual(got.keys)
        expect(got.boxes[inboxKey("alice")]).toEqual({
            next: 3,
            messages: [
                {seq: 1, target: "alice", tags: {Action: "Infer-Accepted", "X-Reference": "r1"}, data: ""},
                {seq: 2, target: "alice", tags: {Action: "Infer-Result", "Task-Id": "t1"}, data: "out"}
            ]
        })
        expect(got.boxes.results).toEqual({
            next: 2,
            messages: [{seq: 1, target: "alice", tags: {Action: "Infer-Result", "Task-Id": "t1"}, data: "out"}]
        })
    })

    it("keeps the last 32 messages of a recipient and the last 64 results, numbered without gaps", async () => {
        const boxes = await lua<Record<string, string>>(`
            local boxes, changed = {}, {}
            for i = 1, 70 do
              mailbox.record(boxes, changed, { Target = "bob", Action = "Infer-Result", ["Task-Id"] = "t" .. i }, isProcess)
            end
            return json.encode(mailbox.patch(boxes, changed))`)
        const inbox = JSON.parse(boxes[inboxKey("bob")]!) as Box
        const results = JSON.parse(boxes.results!) as Box
        const seqs = (box: Box) => box.messages.map((m) => m.seq)
        expect(inbox.next).toBe(71)
        expect(seqs(inbox)).toEqual(Array.from({length: 32}, (_, i) => 39 + i))
        expect(inbox.messages[0]!.tags["Task-Id"]).toBe("t39")
        expect(results.next).toBe(71)
        expect(seqs(results)).toEqual(Array.from({length: 64}, (_, i) => 7 + i))
    })

    it("encodes the same bytes whatever order tags were set in, and publishes nothing when nothing changed", async () => {
        const got = await lua<{a: string; b: string; none: unknown}>(`
            local a, b = {}, {}
            local ac, bc = {}, {}
            mailbox.record(a, ac, { Target = "x", Action = "N", Zeta = "z", Alpha = "a\\n\\"q\\"", Data = "é\\t{}" }, isProcess)
            local m = { Target = "x", Data = "é\\t{}" }
            m.Alpha = "a\\n\\"q\\""
            m.Zeta = "z"
            m.Action = "N"
            mailbox.record(b, bc, m, isProcess)
            return json.encode({ a = mailbox.encode(a[mailbox.inboxKey("x")]), b = mailbox.encode(b[mailbox.inboxKey("x")]),
              none = mailbox.patch(a, {}) == nil })`)
        expect(got.a).toBe(got.b)
        expect(got.a).toBe(
            '{"next":2,"messages":[{"seq":1,"target":"x",' + '"tags":{"Action":"N","Alpha":"a\\n\\"q\\"","Zeta":"z"},"data":"é\\t{}"}]}'
        )
        expect(JSON.parse(got.a)).toEqual({
            next: 2,
            messages: [{seq: 1, target: "x", tags: {Action: "N", Alpha: 'a\n"q"', Zeta: "z"}, data: "é\t{}"}]
        })
        expect(got.none).toBe(true)
    })
})

describe("Apus rules", () => {
    let lua: <T>(code: string) => Promise<T>

    beforeAll(async () => {
        lua = await deployLuaRules("escrow", PRELUDE)
    })

    it("reads X-Options into Infer tags and refuses what weavelm cannot honour", async () => {
        const got = await lua<Record<string, unknown>>(`
            local function request(tags) return { Tags = tags, Data = "" } end
            local function params(tags, default)
              local ok, view = pcall(apus.params, request(tags), default)
              if not ok then return refusal(apus.params, request(tags), default) end
              local t = view.Tags
              return { Model = t.Model, ["Max-Tokens"] = t["Max-Tokens"], Temperature = t.Temperature, ["Top-P"] = t["Top-P"],
                ["Top-K"] = t["Top-K"], Seed = t.Seed, ["Max-Fee"] = t["Max-Fee"], Format = t.Format }
            end
            local prompt = { ["X-Prompt"] = "Hi" }
            return json.encode({
              full = params({ ["X-Prompt"] = "Hi", ["X-Options"] =
                '{"model":"m","max_tokens":150,"temperature":0.8,"top_p":1.0,"top_k":"5","seed":7,"max_fee":"900"}' }),
              default = params({ ["X-Prompt"] = "Hi", Format = "chat" }, "dm"),
              library = params({ ["X-Prompt"] = "Hi", ["X-Options"] = '{"session":"","reference":"r","temperature":0}' }, "dm"),
              noModel = params(prompt),
              session = params({ ["X-Prompt"] = "Hi", ["X-Session"] = "s1" }, "dm"),
              optionSession = params({ ["X-Prompt"] = "Hi", ["X-Options"] = '{"session":"s1"}' }, "dm"),
              unsupported = params({ ["X-Prompt"] = "Hi", ["X-Options"] = '{"stream":true,"stop":["x"],"top_p":0.5}' }, "dm"),
              notJson = params({ ["X-Prompt"] = "Hi", ["X-Options"] = "{" }, "dm"),
              list = params({ ["X-Prompt"] = "Hi", ["X-Options"] = "[1]" }, "dm"),
              twice = params({ ["X-Prompt"] = "Hi", Model = "m", ["X-Options"] = '{"model":"m"}' }, "dm"),
              boolean = params({ ["X-Prompt"] = "Hi", ["X-Options"] = '{"temperature":true}' }, "dm"),
              isRequest = { apus.isRequest(request(prompt)), apus.isRequest({ Tags = prompt, Data = "prompt" }),
                apus.isRequest(request({ ["X-Prompt"] = "Hi", ["Prompt-Tx"] = "tx" })), apus.isRequest(request({})) },
            })`)
        expect(got.full).toEqual({
            Model: "m",
            "Max-Tokens": "150",
            Temperature: "0.8",
            "Top-P": "1",
            "Top-K": "5",
            Seed: "7",
            "Max-Fee": "900"
        })
        expect(got.default).toEqual({Model: "dm", Format: "chat"})
        expect(got.library).toEqual({Model: "dm", Temperature: "0"})
        expect(got.noModel).toMatch(/X-Options.model is required: this escrow has no Default-Model/)
        expect(got.session).toMatch(/X-Session is not supported/)
        expect(got.optionSession).toMatch(/X-Session is not supported/)
        expect(got.unsupported).toBe(
            "Unsupported X-Options stop, stream: supported are model, max_tokens, temperature, top_p, top_k, seed, max_fee"
        )
        expect(got.notJson).toBe("X-Options must be a JSON object")
        expect(got.list).toBe("X-Options must be a JSON object")
        expect(got.twice).toMatch(/Give Model once/)
        expect(got.boolean).toMatch(/X-Options.temperature must be a number or a string/)
        expect(got.isRequest).toEqual([true, false, false, false])
    })

    it("sets the default Max-Fee to the priciest available worker's worst case and refuses what the deposit cannot cover", async () => {
        const got = await lua<Record<string, string | null>>(`
            local function worker(address, input, output, fields)
              local w = { address = address, models = { "m1" }, priceInput = input, priceOutput = output, stake = "1",
                maxConcurrency = 1, eligible = true, lastHeartbeat = 0, heartbeatTimeout = 1000,
                reputation = { completed = 0, strikes = 0, slashed = 0 } }
              for k, v in pairs(fields or {}) do w[k] = v end
              return w
            end
            local workers = {
              a = worker("a", "1000", "3001"), b = worker("b", "4000", "1000"),
              busy = worker("busy", "99999", "99999"), stale = worker("stale", "99999", "99999", { lastHeartbeat = -5000 }),
            }
            local req = { model = { id = "m1", name = "m", ownerFee = 500 }, maxTokens = 40, prompt = string.rep("x", 84) }
            local function fee(available)
              local ok, f = pcall(apus.maxFee, workers, { busy = 1 }, req, available, 10)
              if ok then return f end
              return refusal(apus.maxFee, workers, { busy = 1 }, req, available, 10)
            end
            return json.encode({ covered = fee("10000"), short = fee("100"),
              none = refusal(apus.maxFee, {}, {}, req, "100", 10) })`)
        // a: ceil((1000 * 100 + 3001 * 40) / 1000) = 221, + floor(221 * 5%) = 11 -> 232
        // b: ceil((4000 * 100 + 1000 * 40) / 1000) = 440, + 22 -> 462; busy and stale workers do not count
        expect(got.covered).toBe("462")
        expect(got.short).toBe(
            "The deposit 100 cannot cover Max-Fee 462, the worst-case fee of the priciest available worker " +
                "for max_tokens 40 and a 84-byte prompt: deposit more, lower max_tokens, or set max_fee"
        )
        expect(got.none).toBe("No available worker serves model m")
    })

    it("answers an Apus task's result and refunds in Apus's form, and nothing else", async () => {
        const got = await lua<Record<string, Record<string, string> | null>>(`
            local result = { Target = "dapp", Action = "Infer-Result", ["Task-Id"] = "t1", Worker = "w", Fee = "122",
              ["Receipt-Tx"] = "rtx", ["Receipt-Hash"] = "rh", ["Challenge-Deadline"] = "1700000000000",
              ["X-Reference"] = "r1", Data = "forty-\\"two\\"" }
            local refunded = { Target = "dapp", Action = "Infer-Refunded", ["Task-Id"] = "t1", Error = "why", ["X-Reference"] = "r1" }
            local task = { id = "t1", apus = true, state = "Completed" }
            local invalid = { id = "t1", apus = true, state = "Invalidated" }
            local failed = { id = "t1", apus = true, state = "Refunded" }
            return json.encode({
              result = apus.answer(task, result), unanswered = apus.answer(failed, refunded),
              invalid = apus.answer(invalid, refunded), plain = apus.answer({ id = "t1", state = "Completed" }, result),
              settled = apus.answer(task, { Target = "dapp", Action = "Task-Settled", ["Task-Id"] = "t1" }),
              refused = apus.refusal("no"),
            })`)
        expect(got.result).toEqual({
            Target: "dapp",
            Action: "Infer-Response",
            "Task-Id": "t1",
            "X-Reference": "r1",
            Data:
                '{"result":"forty-\\"two\\"","attestation":{"receiptTx":"rtx","receiptHash":"rh","taskId":"t1",' +
                '"challengeDeadline":1700000000000,"worker":"w","fee":"122"}}'
        })
        expect(got.unanswered).toEqual({
            Target: "dapp",
            Action: "Infer-Response",
            "Task-Id": "t1",
            "X-Reference": "r1",
            Code: "503",
            Message: "why",
            Data: "why"
        })
        expect(got.invalid).toMatchObject({Code: "422", Message: "why"})
        expect(got.plain).toBeUndefined()
        expect(got.settled).toBeUndefined()
        expect(got.refused).toEqual({Action: "Infer-Response", Code: "400", Message: "no", Data: "no"})
    })
})
