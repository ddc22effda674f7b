-- Prepaid channels (docs/protocol.md, escrow "Channels (direct mode)"): a
-- requester locks tokens for one worker, pays it off-chain with vouchers
-- (cumulative amounts it signs) and the worker redeems the latest one. Like
-- weavelm.tasks, every function takes the escrow's state tables and the
-- message time, checks everything that can fail before changing anything, and
-- returns the messages to send. `state` holds:
--   channels (id -> channel), liveChannels (id -> true for channels not
--   Closed), channelOrder (ids by opening), balances, workers, models, params.
local json = require("json")
local amount = require("weavelm.amount")
local fees = require("weavelm.fees")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local ledger = require("weavelm.ledger")
local order = require("weavelm.order")
local selection = require("weavelm.selection")

local channels = {}

-- 24 h, as 0G's refund lock: long enough for a worker that checks its
-- channels daily to redeem before the owner takes the rest back.
channels.DEFAULTS = { channelRefundLock = 86400000 }

-- Far enough below aos json's 14 significant digits that a timestamp plus the
-- lock is still written exactly.
local MAX_LOCK = 10000000000000

channels.STATES = { "Open", "Closing", "Closed" }

--- The channel parameters of a `Configure` message, over the current ones.
function channels.configure(params, msg)
  return {
    channelRefundLock = input.integer(msg, "Channel-Refund-Lock", { default = params.channelRefundLock, min = 1, max = MAX_LOCK }),
  }
end

function channels.get(state, id)
  guard.check(type(id) == "string" and id ~= "", "Channel is required")
  return guard.check(state.channels[id], "Unknown channel " .. id)
end

--- What channels not Closed still hold (deposited - paid); with `who`, only
--- the channels `who` owns.
function channels.locked(state, who)
  local total = "0"
  for id in pairs(state.liveChannels) do
    local c = state.channels[id]
    if who == nil or c.owner == who then total = amount.add(total, amount.sub(c.deposited, c.paid)) end
  end
  return total
end

local function eligibleWorker(state, address, model)
  local worker = state.workers[address]
  guard.check(worker ~= nil and worker.eligible, "Worker " .. tostring(address) .. " is not an eligible registered worker")
  if model then guard.check(selection.serves(worker, model.id), "Worker " .. address .. " does not serve model " .. model.name) end
end

local function opened(c, target, qty)
  return {
    Target = target,
    Action = "Channel-Opened",
    Channel = c.id,
    Worker = c.worker,
    Model = c.model,
    Deposited = c.deposited,
    Quantity = qty,
  }
end

--- An `Open-Channel` (`req`: id of the opening message, owner, quantity,
--- fromDeposit, and the optional tags worker, model (Model-Id or Name) and
--- channel (a top-up)): opens a channel, or adds to one of the owner's Open
--- ones. Returns the notice to the worker and the tags with which the handler
--- answers the owner.
function channels.open(state, req, now)
  local c = req.channel and channels.get(state, req.channel)
  if c then
    guard.check(c.owner == req.owner, "Channel " .. c.id .. " is not yours")
    guard.check(c.state == "Open", "Channel " .. c.id .. " is not Open (" .. c.state .. ")")
    guard.check(req.worker == nil or req.worker == c.worker, "Channel " .. c.id .. " is with worker " .. c.worker)
    guard.check(
      req.model == nil or req.model == c.model or req.model == c.modelName,
      "Channel " .. c.id .. " is for " .. (c.modelName and "model " .. c.modelName or "no model")
    )
    eligibleWorker(state, c.worker, c.model and state.models[c.model])
  else
    guard.check(state.channels[req.id] == nil, "Channel " .. req.id .. " exists")
    guard.check(req.worker ~= nil, "Worker is required")
    local model = req.model and selection.findModel(state.models, req.model)
    eligibleWorker(state, req.worker, model)
    -- The model's owner and fee as they are now: a later change to the model
    -- does not move what this channel's vouchers pay to whom.
    c = {
      id = req.id,
      owner = req.owner,
      worker = req.worker,
      model = model and model.id,
      modelName = model and model.name,
      modelOwner = model and model.owner,
      ownerFeeBps = model and model.ownerFee or 0,
      deposited = "0",
      paid = "0",
      nonce = 0,
      redemptions = 0,
      state = "Open",
      openedAt = now,
    }
  end
  if req.fromDeposit then ledger.debit(state.balances, req.owner, req.quantity, "available balance") end

  if not req.channel then
    state.channels[c.id] = c
    state.liveChannels[c.id] = true
    state.channelOrder[#state.channelOrder + 1] = c.id
  end
  c.deposited = amount.add(c.deposited, req.quantity)
  return { opened(c, c.worker, req.quantity) }, opened(c, nil, req.quantity)
end

--- A `Redeem-Voucher` (`v`: channel, cumulative, nonce, receiptsRoot) signed by
--- `signer`: pays the worker, and the model owner its share, what the voucher
--- adds to what the channel has paid.
function channels.redeem(state, v, signer, now)
  local c = channels.get(state, v.channel)
  guard.check(signer == c.owner, "Voucher is not signed by the channel's owner")
  guard.check(c.state ~= "Closed", "Channel " .. c.id .. " is Closed")
  guard.check(c.state ~= "Closing" or now < c.closesAt, "Channel " .. c.id .. " closed at Closes-At " .. tostring(c.closesAt))
  guard.check(v.nonce > c.nonce, "Stale voucher: nonce " .. v.nonce .. " is not above " .. c.nonce)
  guard.check(amount.le(v.cumulative, c.deposited), "Voucher over-spends the channel: " .. v.cumulative .. " > " .. c.deposited)
  guard.check(amount.lt(c.paid, v.cumulative), "Voucher pays nothing new")

  local pay = amount.sub(v.cumulative, c.paid)
  local ownerShare = fees.ownerShare(pay, c.ownerFeeBps)
  local workerShare = amount.sub(pay, ownerShare)
  if not amount.isZero(workerShare) then ledger.credit(state.balances, c.worker, workerShare) end
  if not amount.isZero(ownerShare) then ledger.credit(state.balances, c.modelOwner, ownerShare) end
  c.paid, c.nonce, c.receiptsRoot = v.cumulative, v.nonce, v.receiptsRoot
  c.redemptions = c.redemptions + 1

  local function redeemed(target)
    return {
      Target = target,
      Action = "Voucher-Redeemed",
      Channel = c.id,
      Amount = pay,
      Cumulative = c.paid,
      Nonce = tostring(c.nonce),
      ["Receipts-Root"] = c.receiptsRoot,
      ["Worker-Share"] = workerShare,
      ["Owner-Share"] = ownerShare,
    }
  end
  return { redeemed(c.worker), redeemed(c.owner) }
end

--- The task record a challenge of a direct request (`req`: channel,
--- requestId (the paying voucher's id, the receipt's taskId), receiptHash,
--- batchTx (the Receipt-Batch holding the receipt), fee) stands for, so that
--- weavelm.challenges disputes it as it disputes a task. Checked, not stored:
--- challenges.open adopts it once the whole challenge is accepted. Only a
--- channel with a model (the committee serves it), redeemed at least once (the
--- receipt was paid for) and not Closed for longer than Challenge-Window after
--- its Closes-At can be disputed; Fee is at most what the channel has paid.
--- The request was paid by redemption: the record locks nothing.
function channels.directTask(state, req, now)
  local c = channels.get(state, req.channel)
  guard.check(c.model ~= nil, "Channel " .. c.id .. " names no model: its receipts cannot be challenged")
  local model = guard.check(state.models[c.model], "Unknown model " .. c.model)
  guard.check(c.redemptions > 0, "Channel " .. c.id .. " has redeemed no voucher")
  local existing = state.tasks[req.requestId]
  if existing ~= nil then
    -- A request whose challenge lapsed is Completed again, within the window
    -- the lapse gave it: challenged again with this challenge's Batch-Tx and
    -- Fee (a copy, which challenges.open stores in its place once accepted).
    guard.check(
      existing.direct and existing.channel == c.id and existing.receiptHash == req.receiptHash and existing.state == "Completed",
      "Request " .. req.requestId .. " is already challenged"
    )
    guard.check(amount.le(req.fee, c.paid), "Fee " .. req.fee .. " is above what channel " .. c.id .. " has paid, " .. c.paid)
    local again = {}
    for k, v in pairs(existing) do
      again[k] = v
    end
    again.fee, again.receiptTx = req.fee, req.batchTx
    return again
  end
  local deadline = now
  if c.closesAt then
    deadline = c.closesAt + state.params.challengeWindow
    guard.check(now <= deadline, "Challenge window of channel " .. c.id .. " closed at " .. deadline)
  end
  guard.check(amount.le(req.fee, c.paid), "Fee " .. req.fee .. " is above what channel " .. c.id .. " has paid, " .. c.paid)
  guard.check(state.tasks[req.requestId] == nil, "Request " .. req.requestId .. " is already challenged")
  local challenged = c.challenged or {}
  guard.check(
    challenged[req.receiptHash] == nil,
    "Receipt " .. req.receiptHash .. " is already challenged (request " .. tostring(challenged[req.receiptHash]) .. ")"
  )
  return {
    id = req.requestId,
    direct = true,
    channel = c.id,
    requester = c.owner,
    worker = c.worker,
    model = model.id,
    modelName = model.name,
    modelSha256 = model.sha256,
    fee = req.fee,
    locked = "0",
    receiptHash = req.receiptHash,
    receiptTx = req.batchTx,
    createdAt = now,
    completedAt = now,
    challengeDeadline = deadline,
    attempt = 0,
    held = {},
  }
end

--- Records that a direct task's receipt is disputed, so that it is never
--- disputed again under another Request-Id.
function channels.markChallenged(state, task)
  local c = state.channels[task.channel]
  c.challenged = c.challenged or {}
  c.challenged[task.receiptHash] = task.id
end

--- Channels whose refund lock has passed at `now`, in id order: upkeep must
--- close them in the same order on every CU.
function channels.due(state, now)
  local list = {}
  for _, id in ipairs(order.keys(state.liveChannels)) do
    local c = state.channels[id]
    if c.state == "Closing" and now >= c.closesAt then list[#list + 1] = c end
  end
  return list
end

--- Closes a Closing channel: what it has not paid goes back to the owner's
--- escrow balance.
function channels.finalize(state, c)
  local refund = amount.sub(c.deposited, c.paid)
  if not amount.isZero(refund) then ledger.credit(state.balances, c.owner, refund) end
  c.state = "Closed"
  state.liveChannels[c.id] = nil
  local function closed(target)
    return { Target = target, Action = "Channel-Closed", Channel = c.id, Refunded = refund }
  end
  return { closed(c.worker), closed(c.owner) }
end

--- The owner's `Close-Channel`: starts the refund lock, during which the
--- worker may still redeem. A channel this message's upkeep just closed
--- (`closedNow`) needs nothing more. Returns the notice to the worker and the
--- tags that answer the owner (none for a channel upkeep closed).
function channels.close(state, id, from, now, closedNow)
  local c = channels.get(state, id)
  guard.check(from == c.owner, "Only the channel's owner may close it")
  if closedNow[id] then return {}, nil end
  guard.check(c.state ~= "Closed", "Channel " .. id .. " is already Closed")
  guard.check(c.state ~= "Closing", "Channel " .. id .. " is already Closing until Closes-At " .. tostring(c.closesAt))
  c.state = "Closing"
  c.closesAt = now + state.params.channelRefundLock
  local function closing(target)
    return {
      Target = target,
      Action = "Channel-Closing",
      Channel = c.id,
      ["Closes-At"] = tostring(c.closesAt),
      Deposited = c.deposited,
      Paid = c.paid,
    }
  end
  return { closing(c.worker) }, closing(nil)
end

--- Channels matching `filter` (owner, worker, state; each optional), newest
--- first, at most `limit`.
function channels.list(state, filter, limit)
  local list = {}
  for i = #state.channelOrder, 1, -1 do
    if #list >= limit then break end
    local c = state.channels[state.channelOrder[i]]
    if
      (filter.owner == nil or c.owner == filter.owner)
      and (filter.worker == nil or c.worker == filter.worker)
      and (filter.state == nil or c.state == filter.state)
    then
      list[#list + 1] = c
    end
  end
  return list
end

local RECORD_FIELDS =
  { "id", "owner", "worker", "model", "deposited", "paid", "nonce", "receiptsRoot", "redemptions", "state", "openedAt", "closesAt" }

--- The ChannelRecord JSON. Written field by field: aos json drops nil fields,
--- where the record has an explicit null, and writes numbers with 14
--- significant digits, too few for a 15-digit nonce.
function channels.encode(c)
  local parts = {}
  for i, field in ipairs(RECORD_FIELDS) do
    local v = c[field]
    local text
    if v == nil then
      text = "null"
    elseif math.type(v) == "integer" then
      text = string.format("%d", v)
    else
      text = json.encode(v)
    end
    parts[i] = json.encode(field) .. ":" .. text
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function channels.encodeList(list)
  local parts = {}
  for i, c in ipairs(list) do
    parts[i] = channels.encode(c)
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

return channels
