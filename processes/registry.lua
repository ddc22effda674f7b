-- weavelm registry: models, workers and their stakes (docs/protocol.md,
-- "registry"). Handlers read tags, apply a rule from weavelm.models or
-- weavelm.workers and reply. The escrow gets a Sync-Model / Sync-Worker after
-- every change so that it can choose workers without asking the registry.
local json = require("json")
local amount = require("weavelm.amount")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local models = require("weavelm.models")
local workers = require("weavelm.workers")

Params = Params or { minStake = "1000", unstakeCooldown = 604800000, heartbeatTimeout = 600000 }
Models = Models or {}
ModelNames = ModelNames or {}
Workers = Workers or {}
Stakes = Stakes or {}

-- aos 2.0.4 delivers Timestamp as a string of milliseconds.
local function now(msg)
  return tonumber(msg.Timestamp)
end

local function syncModel(model)
  if Params.escrow == nil then return end
  Send({ Target = Params.escrow, Action = "Sync-Model", Data = json.encode(models.syncRecord(model)) })
end

local function syncWorker(address)
  if Params.escrow == nil or Workers[address] == nil then return end
  Send({ Target = Params.escrow, Action = "Sync-Worker", Data = json.encode(workers.syncRecord(Workers, Stakes, Params, address)) })
end

local function requireEscrow(msg)
  guard.check(Params.escrow ~= nil and msg.From == Params.escrow, "Only the escrow may send " .. msg.Action)
end

local function transfer(recipient, quantity, tags)
  local out = tags or {}
  out.Target = Params.token
  out.Action = "Transfer"
  out.Recipient = recipient
  out.Quantity = quantity
  Send(out)
end

-- The parameters as tags, for Configure-Notice and Info-Response.
local function paramTags(reply)
  reply.Token = Params.token
  reply.Escrow = Params.escrow
  reply["Min-Stake"] = Params.minStake
  reply["Unstake-Cooldown"] = tostring(Params.unstakeCooldown)
  reply["Heartbeat-Timeout"] = tostring(Params.heartbeatTimeout)
  return reply
end

guard.handle("Configure", "Configure", function(msg)
  guard.check(msg.From == Owner, "Only the owner may configure the registry")
  local previous = Params
  Params = workers.configure(previous, msg, Stakes)
  msg.reply(paramTags({ Action = "Configure-Notice" }))
  -- A new escrow starts with an empty mirror; eligibility and heartbeatTimeout
  -- in every worker record follow Min-Stake and Heartbeat-Timeout.
  local newEscrow = Params.escrow ~= previous.escrow
  if newEscrow then
    for _, model in ipairs(models.list(Models)) do
      syncModel(model)
    end
  end
  if newEscrow or Params.minStake ~= previous.minStake or Params.heartbeatTimeout ~= previous.heartbeatTimeout then
    for _, address in ipairs(workers.addresses(Workers)) do
      syncWorker(address)
    end
  end
end)

guard.handle("Register-Model", "Register-Model", function(msg)
  local model = models.register(Models, ModelNames, models.parse(msg, msg.From), now(msg))
  msg.reply({ Action = "Register-Model-Notice", ["Model-Id"] = model.id, Name = model.name })
  syncModel(model)
end)

-- Every token arriving here is a stake; anything else is refunded by guard.
guard.handle("Credit-Notice", "Credit-Notice", function(msg)
  guard.check(msg.Tags["X-Action"] == "Stake", "The registry accepts tokens only with X-Action=Stake")
  guard.check(Params.token ~= nil, "The registry has no token configured yet")
  guard.check(msg.From == Params.token, "Stakes are paid in token " .. Params.token .. ", not " .. msg.From)
  local staker = input.id(msg, "Sender")
  local qty = tostring(amount.positive(msg.Tags.Quantity, "Quantity"))
  local stake = workers.stake(Stakes, staker, qty)
  guard.reply(msg, { Action = "Stake-Notice", Quantity = qty, Stake = stake })
  syncWorker(staker)
end)

-- The token confirms the registry's own Transfers (withdrawals, slashes,
-- refunds); nothing to do, but unhandled it would pile up in the Inbox.
Handlers.add("Debit-Notice", "Debit-Notice", function() end)

guard.handle("Register-Worker", "Register-Worker", function(msg)
  local terms = workers.parseTerms(msg, Models, false)
  workers.register(Workers, Stakes, Params, msg.From, terms, now(msg))
  msg.reply({ Action = "Register-Worker-Notice", Worker = msg.From })
  syncWorker(msg.From)
end)

guard.handle("Update-Worker", "Update-Worker", function(msg)
  workers.update(Workers, msg.From, workers.parseTerms(msg, Models, true))
  msg.reply({ Action = "Update-Worker-Notice", Worker = msg.From })
  syncWorker(msg.From)
end)

guard.handle("Heartbeat", "Heartbeat", function(msg)
  workers.heartbeat(Workers, msg.From, now(msg))
  msg.reply({ Action = "Heartbeat-Notice", Timestamp = tostring(now(msg)) })
  syncWorker(msg.From)
end)

guard.handle("Unstake", "Unstake", function(msg)
  local requested = input.optional(msg, "Quantity")
  if requested then requested = tostring(amount.positive(requested, "Quantity")) end
  local qty, availableAt = workers.unstake(Stakes, msg.From, requested, now(msg), Params.unstakeCooldown)
  msg.reply({
    Action = "Unstake-Notice",
    Quantity = qty,
    Stake = workers.stakeOf(Stakes, msg.From).staked,
    ["Available-At"] = tostring(availableAt),
  })
  syncWorker(msg.From)
end)

guard.handle("Withdraw", "Withdraw", function(msg)
  local qty = workers.withdraw(Stakes, msg.From, now(msg))
  transfer(msg.From, qty)
  msg.reply({ Action = "Withdraw-Notice", Quantity = qty })
end)

guard.handle("Slash", "Slash", function(msg)
  requireEscrow(msg)
  local worker = input.id(msg, "Worker")
  local requested = tostring(amount.positive(msg.Tags.Quantity, "Quantity"))
  local taskId = input.id(msg, "Task-Id")
  local recipient = input.optional(msg, "Recipient") and input.id(msg, "Recipient") or msg.From
  local taken = workers.slash(Workers, Stakes, worker, requested)
  -- The token refuses a zero Transfer: a worker with nothing left is only
  -- marked in its reputation.
  if not amount.isZero(taken) then transfer(recipient, taken, { ["X-Slash-Task"] = taskId, ["X-Slash-Worker"] = worker }) end
  msg.reply({ Action = "Slash-Notice", Worker = worker, Quantity = taken, ["Task-Id"] = taskId })
  syncWorker(worker)
end)

-- The Sync-Worker that follows is the escrow's answer: no separate notice.
guard.handle("Record-Outcome", "Record-Outcome", function(msg)
  requireEscrow(msg)
  local worker = input.id(msg, "Worker")
  workers.recordOutcome(Workers, worker, input.required(msg, "Outcome"))
  syncWorker(worker)
end)

guard.handle("Info", "Info", function(msg)
  local staked, unstaking = workers.totals(Stakes)
  local registered, eligible = workers.counts(Workers, Stakes, Params)
  msg.reply(paramTags({
    Action = "Info-Response",
    Data = json.encode({
      token = Params.token,
      escrow = Params.escrow,
      minStake = Params.minStake,
      unstakeCooldown = Params.unstakeCooldown,
      heartbeatTimeout = Params.heartbeatTimeout,
      models = #models.list(Models),
      workers = registered,
      eligibleWorkers = eligible,
      totalStaked = staked,
      totalUnstaking = unstaking,
    }),
  }))
end)

guard.handle("Models", "Models", function(msg)
  msg.reply({ Action = "Models-Response", Data = json.encode(models.list(Models)) })
end)

guard.handle("Model", "Model", function(msg)
  local key = input.optional(msg, "Model-Id") or input.optional(msg, "Name")
  guard.check(key ~= nil, "Model-Id or Name is required")
  local model = models.find(Models, ModelNames, key)
  guard.check(model ~= nil, "Unknown model " .. key)
  msg.reply({ Action = "Model-Response", Data = json.encode(model) })
end)

guard.handle("Workers", "Workers", function(msg)
  local key = input.optional(msg, "Model")
  local model = models.find(Models, ModelNames, key)
  guard.check(key == nil or model ~= nil, "Unknown model " .. tostring(key))
  msg.reply({ Action = "Workers-Response", Data = json.encode(workers.list(Workers, Stakes, Params, model and model.id)) })
end)

guard.handle("Worker", "Worker", function(msg)
  local address = input.optional(msg, "Address", msg.From)
  local view = workers.view(Workers, Stakes, Params, address)
  guard.check(view ~= nil, "Unknown worker " .. address)
  msg.reply({ Action = "Worker-Response", Data = json.encode(view) })
end)
