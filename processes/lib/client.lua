-- weavelm client for dApp processes: asks the escrow for completions and calls
-- back once the result, or the reason there is none, arrives (docs/lua-client.md).
-- A dApp requires it as "weavelm.client" and is deployed with bundleLua, which
-- bundles it in (bundleLua reads require calls even in comments, hence no
-- literal one here).
--
--   WeaveLM.configure({ Escrow = "<escrow pid>", Token = "<token pid>" })
--   WeaveLM.infer({ Model = "llama-toy", Prompt = "Hello", MaxFee = "1000", PayPerCall = true },
--     function(result) if result.ok then print(result.Output) else print(result.Error) end end)
--
-- Every call gets its own X-Reference. The escrow copies it onto every message
-- about the call (Infer-Accepted, Infer-Result, Infer-Error, Infer-Refunded),
-- and the token onto its Transfer-Error, so replies find their callback however
-- many calls are in flight.

-- A global, so that a re-Eval of the process's code keeps the calls in flight.
WeaveLMClient = WeaveLMClient or { escrow = nil, token = nil, calls = 0, pending = {} }
local state = WeaveLMClient

local WeaveLM = {}

-- Misuse is a bug in the dApp, so it raises, naming the caller's line.
local function need(cond, text)
  if not cond then error("WeaveLM: " .. text, 3) end
end

-- Tag values travel as strings; an integral float must not become "64.0".
local function str(v)
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
  return v
end

--- Sets the escrow to ask and the token it takes fees in (needed for
--- PayPerCall and deposit).
function WeaveLM.configure(opts)
  need(type(opts) == "table" and type(opts.Escrow) == "string", "configure needs { Escrow = <pid>, Token = <pid> }")
  state.escrow = opts.Escrow
  state.token = opts.Token
end

-- The Infer parameters and the tags the escrow reads them from (docs/protocol.md).
local PARAMS = {
  Model = "Model",
  MaxTokens = "Max-Tokens",
  Temperature = "Temperature",
  TopK = "Top-K",
  TopP = "Top-P",
  Seed = "Seed",
  Format = "Format",
  PromptTx = "Prompt-Tx",
}

-- A direct Infer paid from the escrow deposit, or a token Transfer to the
-- escrow with the parameters as X- tags: tokens forward X- tags but not Data,
-- so the prompt rides in X-Prompt.
local function inferMessage(opts, reference)
  local prefix = opts.PayPerCall and "X-" or ""
  local msg = { ["X-Reference"] = reference }
  for field, tag in pairs(PARAMS) do
    msg[prefix .. tag] = str(opts[field])
  end
  if opts.PayPerCall then
    msg.Target, msg.Action, msg.Recipient, msg.Quantity = state.token, "Transfer", state.escrow, str(opts.MaxFee)
    msg["X-Action"] = "Infer"
    if not opts.PromptTx then msg["X-Prompt"] = opts.Prompt end
  else
    msg.Target, msg.Action, msg["Max-Fee"] = state.escrow, "Infer", str(opts.MaxFee)
    msg.Data = opts.Prompt or ""
  end
  return msg
end

--- Asks for a completion. `callback(result)` runs exactly once, with
--- { ok = true, Output, TaskId, Worker, Fee, ReceiptTx, ReceiptHash, InputTokens,
---   OutputTokens, ChallengeDeadline, Reference }
--- or { ok = false, Error, Action (the reply that ended the call), TaskId
---   (once assigned), Refund (Infer-Refunded), Reference }.
--- `onAccepted(call)`, optional, runs when a worker is assigned. Returns the
--- call's X-Reference.
function WeaveLM.infer(opts, callback, onAccepted)
  need(state.escrow ~= nil, "call WeaveLM.configure({ Escrow = ..., Token = ... }) first")
  need(type(opts) == "table" and opts.Model ~= nil, "infer needs a Model")
  need(opts.Prompt ~= nil or opts.PromptTx ~= nil, "infer needs a Prompt or a PromptTx")
  need(opts.MaxFee ~= nil, "infer needs a MaxFee")
  need(not opts.PayPerCall or state.token ~= nil, "PayPerCall needs WeaveLM.configure({ Token = ... })")
  need(type(callback) == "function", "infer needs a callback")

  state.calls = state.calls + 1
  -- ao.id makes the reference unique beyond this process, e.g. in the escrow's task records.
  local reference = ao.id .. "-" .. state.calls
  Send(inferMessage(opts, reference))
  state.pending[reference] = {
    Reference = reference,
    Seq = state.calls,
    Model = opts.Model,
    PayPerCall = opts.PayPerCall == true,
    callback = callback,
    onAccepted = onAccepted,
  }
  return reference
end

--- Sends `quantity` of the token to the escrow as this process's deposit, which
--- pays the calls made without PayPerCall.
function WeaveLM.deposit(quantity)
  need(state.escrow ~= nil and state.token ~= nil, "deposit needs WeaveLM.configure({ Escrow = ..., Token = ... })")
  need(quantity ~= nil, "deposit needs a quantity")
  Send({ Target = state.token, Action = "Transfer", Recipient = state.escrow, Quantity = str(quantity), ["X-Action"] = "Deposit" })
end

-- A pending call without its callbacks: what introspection and onAccepted see.
local function view(call)
  return {
    Reference = call.Reference,
    Model = call.Model,
    PayPerCall = call.PayPerCall,
    TaskId = call.TaskId,
    Worker = call.Worker,
    Deadline = call.Deadline,
  }
end

--- The calls awaiting their result, oldest first.
function WeaveLM.pending()
  local list = {}
  for _, call in pairs(state.pending) do
    list[#list + 1] = call
  end
  table.sort(list, function(a, b)
    return a.Seq < b.Seq
  end)
  for i, call in ipairs(list) do
    list[i] = view(call)
  end
  return list
end

-- Matches `action` from the configured escrow (or token) about a pending call;
-- anything else, including a stranger's forgery, is left to other handlers.
-- The tag names read below are already title case, so they arrive as written
-- on every AO stack.
local function replyFrom(party, action)
  return function(msg)
    return msg.Action == action and msg.From ~= nil and msg.From == state[party] and state.pending[msg.Tags["X-Reference"]] ~= nil
  end
end

local function finish(msg, result)
  local reference = msg.Tags["X-Reference"]
  local call = state.pending[reference]
  -- Removed before the callback runs, so it fires once even if it raises.
  state.pending[reference] = nil
  result.Reference = reference
  result.TaskId = result.TaskId or call.TaskId
  call.callback(result)
end

local function failure(msg, fields)
  fields.ok = false
  fields.Action = msg.Action
  fields.Error = msg.Tags.Error or msg.Action
  finish(msg, fields)
end

-- Handlers.add replaces a handler of the same name, so re-requiring is harmless.
Handlers.add("weavelm.client.Infer-Accepted", replyFrom("escrow", "Infer-Accepted"), function(msg)
  local call = state.pending[msg.Tags["X-Reference"]]
  call.TaskId, call.Worker, call.Deadline = msg.Tags["Task-Id"], msg.Tags.Worker, tonumber(msg.Tags.Deadline)
  if call.onAccepted then call.onAccepted(view(call)) end
end)

Handlers.add("weavelm.client.Infer-Result", replyFrom("escrow", "Infer-Result"), function(msg)
  local t = msg.Tags
  finish(msg, {
    ok = true,
    Output = msg.Data,
    TaskId = t["Task-Id"],
    Worker = t.Worker,
    Fee = t.Fee,
    ReceiptTx = t["Receipt-Tx"],
    ReceiptHash = t["Receipt-Hash"],
    InputTokens = tonumber(t["Input-Tokens"]),
    OutputTokens = tonumber(t["Output-Tokens"]),
    ChallengeDeadline = tonumber(t["Challenge-Deadline"]),
  })
end)

Handlers.add("weavelm.client.Infer-Error", replyFrom("escrow", "Infer-Error"), function(msg)
  failure(msg, {})
end)

Handlers.add("weavelm.client.Infer-Refunded", replyFrom("escrow", "Infer-Refunded"), function(msg)
  failure(msg, { TaskId = msg.Tags["Task-Id"], Refund = msg.Tags.Refund })
end)

-- A per-call payment the token refused (e.g. too small a balance): the escrow never heard of it.
Handlers.add("weavelm.client.Transfer-Error", replyFrom("token", "Transfer-Error"), function(msg)
  failure(msg, {})
end)

return WeaveLM
