-- The task state machine (docs/protocol.md, escrow "Task state machine").
-- Every function takes the escrow's state tables and the message time, checks
-- everything that can fail before changing anything, and returns the messages
-- to send; the process sends them. `state` holds:
--   tasks (id -> task), open (id -> true for tasks not final), order (ids by
--   creation), counts (state -> number), balances, workers, models, params.
local amount = require("weavelm.amount")
local fees = require("weavelm.fees")
local guard = require("weavelm.guard")
local ledger = require("weavelm.ledger")
local selection = require("weavelm.selection")

local tasks = {}

-- Allowed transitions. A challenge (weavelm.challenges) freezes a Completed
-- task until its referees decide: upheld, it settles; judged invalid, the
-- requester gets everything back; a challenge whose secret was never
-- revealed lapses and the task is Completed again.
local NEXT = {
  [""] = { Assigned = true, Completed = true },
  Assigned = { Assigned = true, Completed = true, Refunded = true },
  Completed = { Settled = true, Challenged = true },
  Challenged = { Settled = true, Invalidated = true, Completed = true },
}

-- States whose Max-Fee is still held by the escrow.
local OPEN = { Assigned = true, Completed = true, Challenged = true }

--- Moves `task` to state `to`, keeping the counts and the open set; raises on
--- a transition the table does not allow.
local function move(state, task, to)
  local from = task.state or ""
  assert(NEXT[from] and NEXT[from][to], "task " .. task.id .. " cannot go from " .. from .. " to " .. to)
  if task.state then state.counts[from] = state.counts[from] - 1 end
  state.counts[to] = (state.counts[to] or 0) + 1
  task.state = to
  state.open[task.id] = OPEN[to] or nil
end
tasks.move = move

function tasks.get(state, id)
  guard.check(type(id) == "string" and id ~= "", "Task-Id is required")
  return guard.check(state.tasks[id], "Unknown task " .. id)
end

--- Tasks not final, oldest first: upkeep must visit them in the same order on
--- every CU, and `pairs` order is not guaranteed to be.
function tasks.openTasks(state)
  local list = {}
  for id in pairs(state.open) do
    list[#list + 1] = state.tasks[id]
  end
  table.sort(list, function(a, b)
    return a.seq < b.seq
  end)
  return list
end

--- Tasks awaiting a result, by worker: the load that Max-Concurrency bounds.
function tasks.activeCounts(state)
  local active = {}
  for id in pairs(state.open) do
    local task = state.tasks[id]
    if task.state == "Assigned" then active[task.worker] = (active[task.worker] or 0) + 1 end
  end
  return active
end

--- What an account has locked in open tasks as requester; without one, what
--- all open tasks hold.
function tasks.locked(state, who)
  local total = "0"
  for id in pairs(state.open) do
    local task = state.tasks[id]
    if who == nil or task.requester == who then total = amount.add(total, task.locked) end
  end
  return total
end

local function selectionTask(task)
  local exclude = {}
  for _, address in ipairs(task.held) do
    exclude[address] = true
  end
  return {
    model = { id = task.model, name = task.modelName, ownerFee = task.ownerFeeBps },
    maxTokens = task.maxTokens,
    maxFee = task.maxFee,
    exclude = exclude,
  }
end

local function pickWorker(state, task, now)
  local wanted = selectionTask(task)
  wanted.auditRate = state.params.auditRate
  local candidates, reason = selection.candidates(state.workers, wanted, tasks.activeCounts(state), now)
  if not candidates then return nil, reason end
  return selection.draw(candidates, task.id .. ":" .. (task.attempt + 1))
end

local function assign(state, task, pick, now)
  local worker = pick.worker
  task.attempt = task.attempt + 1
  task.worker = worker.address
  task.held[#task.held + 1] = worker.address
  task.priceInput = worker.priceInput
  task.priceOutput = worker.priceOutput
  task.quote = pick.quote
  task.assignedAt = now
  task.deadline = now + state.params.taskTimeout
  move(state, task, "Assigned")
  return {
    Target = worker.address,
    Action = "Task-Assigned",
    ["Task-Id"] = task.id,
    Requester = task.requester,
    Model = task.model,
    ["Model-SHA256"] = task.modelSha256,
    ["Max-Tokens"] = tostring(task.maxTokens),
    Temperature = task.temperature,
    ["Top-K"] = tostring(task.topK),
    ["Top-P"] = task.topP,
    Seed = tostring(task.seed),
    Format = task.format,
    Deadline = tostring(task.deadline),
    Attempt = tostring(task.attempt),
    ["Prompt-Message"] = task.promptMessage,
    ["Prompt-Tx"] = task.promptTx,
    Data = task.prompt,
  }
end

-- Returns locked tokens to the requester: into its escrow balance when they
-- came from it, by token transfer when they came with a per-call Infer.
local function payBack(state, task, qty, out, reason)
  if amount.isZero(qty) then return end
  if task.perCall then
    out[#out + 1] = {
      Target = state.params.token,
      Action = "Transfer",
      Recipient = task.requester,
      Quantity = qty,
      ["X-Task-Id"] = task.id,
      ["X-Refund-Reason"] = reason,
      ["X-Reference"] = task.reference,
    }
  else
    ledger.credit(state.balances, task.requester, qty)
  end
end
tasks.payBack = payBack

local function recordOutcome(state, worker, outcome, task)
  return { Target = state.params.registry, Action = "Record-Outcome", Worker = worker, Outcome = outcome, ["Task-Id"] = task.id }
end
tasks.recordOutcome = recordOutcome

--- Opens a task for `req` (see escrow.lua's Infer) and assigns it; returns the
--- task and the `Task-Assigned` message.
function tasks.create(state, req, now)
  guard.check(state.tasks[req.id] == nil, "Task " .. req.id .. " exists")
  if not req.perCall then
    local available = ledger.balance(state.balances, req.requester)
    guard.check(amount.le(req.maxFee, available), "Max-Fee " .. req.maxFee .. " is above the available balance " .. available)
  end
  local task = {
    id = req.id,
    requester = req.requester,
    reference = req.reference,
    perCall = req.perCall,
    model = req.model.id,
    modelName = req.model.name,
    modelSha256 = req.model.sha256,
    modelOwner = req.model.owner,
    ownerFeeBps = req.model.ownerFee,
    maxTokens = req.maxTokens,
    temperature = req.temperature,
    topK = req.topK,
    topP = req.topP,
    seed = req.seed,
    format = req.format,
    prompt = req.prompt,
    promptTx = req.promptTx,
    promptMessage = req.id,
    maxFee = req.maxFee,
    locked = req.locked,
    createdAt = now,
    attempt = 0,
    held = {},
  }
  local pick, reason = pickWorker(state, task, now)
  guard.check(pick, reason)

  if not req.perCall then ledger.debit(state.balances, req.requester, req.maxFee) end
  task.seq = #state.order + 1
  state.order[task.seq] = task.id
  state.tasks[task.id] = task
  return task, { assign(state, task, pick, now) }
end

--- Stores a task made outside `create` (a direct request, see
--- channels.directTask) as Completed: it has a result and is open to dispute.
--- The caller has checked that the id is free.
function tasks.adopt(state, task)
  assert(state.tasks[task.id] == nil, "task " .. task.id .. " exists")
  task.seq = #state.order + 1
  state.order[task.seq] = task.id
  state.tasks[task.id] = task
  move(state, task, "Completed")
end

local function refund(state, task, reason, now, out)
  payBack(state, task, task.locked, out, reason)
  task.refund = task.locked
  task.error = reason
  task.refundedAt = now
  task.prompt = nil
  move(state, task, "Refunded")
  out[#out + 1] = {
    Target = task.requester,
    Action = "Infer-Refunded",
    ["Task-Id"] = task.id,
    Error = reason,
    Refund = task.locked,
    ["X-Reference"] = task.reference,
  }
end

-- The assigned worker gave the task up: another worker gets it while attempts
-- remain and one is available, else the requester gets everything back.
local function release(state, task, reason, now, out)
  local why = "Max-Attempts reached"
  if task.attempt < state.params.maxAttempts then
    local pick, none = pickWorker(state, task, now)
    if pick then
      out[#out + 1] = assign(state, task, pick, now)
      return out
    end
    why = none
  end
  refund(state, task, reason .. "; " .. why, now, out)
  return out
end

local function checkAssigned(task, worker)
  guard.check(task.worker == worker, "Not the assigned worker of task " .. task.id)
  guard.check(task.state == "Assigned", "Task " .. task.id .. " is not awaiting a result (" .. task.state .. ")")
end

--- A worker's `Task-Result`: fixes the fee and opens the challenge window.
--- `result` holds inputTokens, outputTokens, receiptTx, receiptHash, output.
function tasks.complete(state, id, worker, result, now)
  local task = tasks.get(state, id)
  checkAssigned(task, worker)
  guard.check(result.outputTokens <= task.maxTokens, "Output-Tokens " .. result.outputTokens .. " is above Max-Tokens " .. task.maxTokens)

  local fee = fees.split(
    { input = task.priceInput, output = task.priceOutput },
    task.ownerFeeBps,
    result.inputTokens,
    result.outputTokens,
    task.maxFee
  )
  task.inputTokens = result.inputTokens
  task.outputTokens = result.outputTokens
  task.receiptTx = result.receiptTx
  task.receiptHash = result.receiptHash
  task.fee, task.workerFee, task.ownerFee = fee.total, fee.worker, fee.owner
  task.completedAt = now
  task.challengeDeadline = now + state.params.challengeWindow
  task.output = result.output
  task.prompt = nil
  move(state, task, "Completed")
  return {
    {
      Target = worker,
      Action = "Task-Result-Notice",
      ["Task-Id"] = id,
      Fee = fee.total,
      ["Worker-Fee"] = fee.worker,
      ["Challenge-Deadline"] = tostring(task.challengeDeadline),
    },
    {
      Target = task.requester,
      Action = "Infer-Result",
      ["Task-Id"] = id,
      Worker = worker,
      Fee = fee.total,
      ["Receipt-Tx"] = result.receiptTx,
      ["Receipt-Hash"] = result.receiptHash,
      ["Input-Tokens"] = tostring(result.inputTokens),
      ["Output-Tokens"] = tostring(result.outputTokens),
      ["Challenge-Deadline"] = tostring(task.challengeDeadline),
      ["X-Reference"] = task.reference,
      Data = result.output,
    },
  }
end

--- A worker's `Task-Failed`: reassigned or refunded, without a strike.
function tasks.fail(state, id, worker, reason, now)
  local task = tasks.get(state, id)
  checkAssigned(task, worker)
  local out = { { Target = worker, Action = "Task-Failed-Notice", ["Task-Id"] = id } }
  return release(state, task, "worker " .. worker .. " failed: " .. reason, now, out)
end

--- Pays a completed (or upheld) task: worker's and owner's shares into their
--- escrow balances, the rest of the locked amount back to the requester. A
--- direct request's fee was paid when its voucher was redeemed: nothing more.
function tasks.settle(state, task, now)
  local out = {}
  local refunded = "0"
  if not task.direct then
    refunded = amount.sub(task.locked, task.fee)
    if not amount.isZero(task.workerFee) then ledger.credit(state.balances, task.worker, task.workerFee) end
    if not amount.isZero(task.ownerFee) then ledger.credit(state.balances, task.modelOwner, task.ownerFee) end
    payBack(state, task, refunded, out, "Unused Max-Fee")
  end
  task.refund = refunded
  task.settledAt = now
  move(state, task, "Settled")
  local function notice(target, reference)
    return {
      Target = target,
      Action = "Task-Settled",
      ["Task-Id"] = task.id,
      Fee = task.fee,
      ["Worker-Fee"] = task.workerFee,
      ["Owner-Fee"] = task.ownerFee,
      Refund = refunded,
      ["X-Reference"] = reference,
    }
  end
  out[#out + 1] = notice(task.worker)
  out[#out + 1] = notice(task.requester, task.reference)
  out[#out + 1] = recordOutcome(state, task.worker, "Completed", task)
  return out
end

--- Lazy upkeep for one open task at `now`: settles it once its challenge window
--- has passed; revokes it from a silent worker past its deadline (with a strike)
--- and reassigns or refunds it. Returns the messages (none if nothing was due).
function tasks.upkeep(state, task, now)
  if task.state == "Completed" and now > task.challengeDeadline then return tasks.settle(state, task, now) end
  if task.state == "Assigned" and now > task.deadline then
    local silent = task.worker
    local out = {
      { Target = silent, Action = "Task-Revoked", ["Task-Id"] = task.id },
      recordOutcome(state, silent, "Strike", task),
    }
    return release(state, task, "worker " .. silent .. " missed the deadline", now, out)
  end
  return {}
end

--- Explains why an explicit `Settle` of a task that upkeep did not just settle
--- cannot proceed.
function tasks.checkSettle(state, id, settledNow)
  local task = tasks.get(state, id)
  if settledNow[id] then return task end
  guard.check(task.state ~= "Settled", "Task " .. id .. " is already settled")
  guard.check(task.state ~= "Refunded", "Task " .. id .. " was refunded")
  guard.check(task.state ~= "Assigned", "Task " .. id .. " has no result yet")
  guard.check(task.state ~= "Invalidated", "Task " .. id .. " was judged invalid and refunded")
  if task.state == "Challenged" and task.dispute.stage == "Seeding" then
    guard.fail(
      "Task "
        .. id
        .. " is challenged; its committee is drawn when the challenger reveals its secret (Reveal-Deadline "
        .. tostring(task.dispute.revealDeadline)
        .. ")"
    )
  end
  guard.check(
    task.state ~= "Challenged",
    "Task "
      .. id
      .. " is challenged; it settles when its referees decide (Referee-Deadline "
      .. tostring(task.dispute and task.dispute.deadline)
      .. ")"
  )
  guard.fail("Challenge window of task " .. id .. " is open until Challenge-Deadline " .. task.challengeDeadline)
end

return tasks
