-- Apus-compatible requests (docs/protocol.md, escrow "Apus-compatible
-- requests"): a dApp written for Apus Network's router asks this escrow by
-- changing the process id. Its `Infer` carries the prompt in X-Prompt and the
-- parameters in the X-Options JSON, and it handles only `Infer-Response`.
-- This module reads such a request into the tags of a plain `Infer` and turns
-- the escrow's answers into `Infer-Response`s. Pure: it returns messages, the
-- process sends them.
local json = require("json")
local amount = require("weavelm.amount")
local fees = require("weavelm.fees")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local order = require("weavelm.order")
local selection = require("weavelm.selection")

local apus = {}

-- Apus's option names and the Infer tags they stand for.
apus.OPTIONS = {
  model = "Model",
  max_tokens = "Max-Tokens",
  temperature = "Temperature",
  top_p = "Top-P",
  top_k = "Top-K",
  seed = "Seed",
  max_fee = "Max-Fee",
}
local SUPPORTED = "model, max_tokens, temperature, top_p, top_k, seed, max_fee"

-- Apus's Code tag on failures; their clients look for Code, then read Message
-- (their Lua library) or Data (their API reference).
apus.REFUSED = "400"
apus.UNANSWERED = "503"
apus.INVALID = "422"

local SESSIONS = "X-Session is not supported: weavelm tasks are stateless (a referee re-runs exactly the prompt it "
  .. "was given); send the whole conversation in X-Prompt"

-- Input tokens are unknown until the worker tokenizes the prompt, but each
-- covers at least one byte of it; this many more cover the special tokens a
-- tokenizer adds (BOS, a leading space).
apus.SPECIAL_TOKENS = 16

-- The largest amount: a quote can never exceed it.
local UNLIMITED = string.rep("9", 38)

--- The Apus parameter of a `Configure`: Default-Model, the model of a request
--- that names none (Apus dApps rarely do: Apus serves one model).
function apus.configure(params, msg)
  if not input.optional(msg, "Default-Model") then return { defaultModel = params.defaultModel } end
  local ref = input.text(msg, "Default-Model", 64)
  guard.check(ref:match("^[%w._-]+$") ~= nil, "Default-Model must be a Model-Id or a model Name")
  return { defaultModel = ref }
end

--- Whether an `Infer` is in Apus's form: a prompt in X-Prompt, none in Data or Prompt-Tx.
function apus.isRequest(msg)
  return input.optional(msg, "X-Prompt") ~= nil and (msg.Data == nil or msg.Data == "") and input.optional(msg, "Prompt-Tx") == nil
end

-- An option's value as tag text: JSON numbers as Lua writes them (integral
-- floats without ".0"), strings as they are.
local function optionText(name, v)
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
  guard.check(type(v) == "string", "X-Options." .. name .. " must be a number or a string")
  return v
end

--- The Infer tags of an Apus request, as a message-like `{Tags}`: each
--- X-Options key as its tag, other tags of the message as they are, and the
--- escrow's `defaultModel` when no model is named. Refuses an unsupported key,
--- a parameter given both as option and as tag, and a session.
function apus.params(msg, defaultModel)
  guard.check(input.optional(msg, "X-Session") == nil, SESSIONS)
  local options = {}
  if input.optional(msg, "X-Options") then
    local ok, decoded = pcall(json.decode, msg.Tags["X-Options"])
    guard.check(ok and type(decoded) == "table", "X-Options must be a JSON object")
    options = decoded
  end
  local tags, unsupported = {}, {}
  for key in pairs(options) do
    guard.check(type(key) == "string", "X-Options must be a JSON object")
  end
  for _, key in ipairs(order.keys(options)) do
    local tag, value = apus.OPTIONS[key], options[key]
    if tag then
      guard.check(input.tag(msg, tag) == nil, "Give " .. tag .. " once: as X-Options." .. key .. " or as a tag")
      tags[tag] = optionText(key, value)
    elseif key == "session" then
      -- Apus's Lua library copies its whole options table into X-Options.
      guard.check(value == "", SESSIONS)
    elseif key ~= "reference" then
      unsupported[#unsupported + 1] = key
    end
  end
  guard.check(#unsupported == 0, "Unsupported X-Options " .. table.concat(unsupported, ", ") .. ": supported are " .. SUPPORTED)
  if tags.Model == nil and input.tag(msg, "Model") == nil then
    guard.check(defaultModel ~= nil, "X-Options.model is required: this escrow has no Default-Model")
    tags.Model = defaultModel
  end
  return { Tags = setmetatable(tags, { __index = msg.Tags }) }
end

--- The Max-Fee of a request that names none: the worst-case fee (Max-Tokens
--- output tokens, and as many input tokens as the prompt has bytes plus
--- SPECIAL_TOKENS) of the priciest worker that could take it now. Every such
--- worker is then a candidate, so the draw is the one an unlimited Max-Fee
--- would make, and whichever is drawn is paid in full; the unused part comes
--- back at settlement. Refuses when `available` cannot cover it.
function apus.maxFee(workers, active, req, available, now)
  local candidates, reason =
    selection.candidates(workers, { model = req.model, maxTokens = req.maxTokens, maxFee = UNLIMITED, exclude = {} }, active, now)
  guard.check(candidates, reason)
  local fee = "0"
  for _, c in ipairs(candidates) do
    local worst = fees.split(
      { input = c.worker.priceInput, output = c.worker.priceOutput },
      req.model.ownerFee,
      #req.prompt + apus.SPECIAL_TOKENS,
      req.maxTokens,
      UNLIMITED
    ).total
    if amount.lt(fee, worst) then fee = worst end
  end
  guard.check(
    amount.le(fee, available),
    "The deposit "
      .. available
      .. " cannot cover Max-Fee "
      .. fee
      .. ", the worst-case fee of the priciest available worker for max_tokens "
      .. req.maxTokens
      .. " and a "
      .. #req.prompt
      .. "-byte prompt: deposit more, lower max_tokens, or set max_fee"
  )
  return fee
end

--- The reply to a refused Apus request, besides its Infer-Error.
function apus.refusal(text)
  return { Action = "Infer-Response", Code = apus.REFUSED, Message = text, Data = text }
end

local function resultData(m)
  return string.format(
    '{"result":%s,"attestation":{"receiptTx":%s,"receiptHash":%s,"taskId":%s,' .. '"challengeDeadline":%d,"worker":%s,"fee":%s}}',
    json.encode(m.Data),
    json.encode(m["Receipt-Tx"]),
    json.encode(m["Receipt-Hash"]),
    json.encode(m["Task-Id"]),
    math.tointeger(tonumber(m["Challenge-Deadline"])),
    json.encode(m.Worker),
    json.encode(m.Fee)
  )
end

--- The `Infer-Response` that goes with `m`, the escrow's `Infer-Result` or
--- `Infer-Refunded` about `task`, when the task came in Apus's form; nil
--- otherwise. Data is written field by field so that every CU sends the same
--- bytes (json.encode orders keys as `pairs` does).
function apus.answer(task, m)
  if task == nil or not task.apus then return nil end
  local answer = { Target = m.Target, Action = "Infer-Response", ["Task-Id"] = task.id, ["X-Reference"] = m["X-Reference"] }
  if m.Action == "Infer-Result" then
    answer.Data = resultData(m)
  elseif m.Action == "Infer-Refunded" then
    answer.Code = task.state == "Invalidated" and apus.INVALID or apus.UNANSWERED
    answer.Message, answer.Data = m.Error, m.Error
  else
    return nil
  end
  return answer
end

return apus
