-- Worker selection (docs/protocol.md, escrow "Tasks"): the escrow's mirror of
-- the registry's records, which workers may take a task (serving, fresh,
-- affordable, staked enough for the slash a fake result of the task would
-- cost, not busy), and a draw among them weighted by stake and reputation.
-- The draw is seeded by a string derived from the task id so that every CU,
-- and any client, computes the same worker.
local bint = require(".bint")(256)
local order = require("weavelm.order")
local amount = require("weavelm.amount")
local fees = require("weavelm.fees")
local guard = require("weavelm.guard")

local selection = {}

-- Weights are integers: the reputation factor is scaled before rounding down so
-- that small stakes keep their relative weight.
local WEIGHT_SCALE = 1000000

--- Audit-Rate is in parts per million: 1000000 is every result.
selection.PPM = 1000000

local function isId(v)
  return type(v) == "string" and #v == 43 and v:match("^[%w_%-]+$") ~= nil
end

-- Registry JSON may carry amounts as strings or as integer numbers.
local function amountField(record, name, what)
  local v = record[name]
  if math.type(v) == "integer" then v = tostring(v) end
  return tostring(amount.parse(v, what .. "." .. name))
end

local function countField(record, name, what)
  local v = record[name]
  if v == nil then return 0 end
  guard.check(math.type(v) == "integer" and v >= 0, what .. "." .. name .. " must be a non-negative integer")
  return v
end

--- Validates a `Sync-Worker` record and keeps the fields selection uses.
function selection.workerRecord(r)
  guard.check(type(r) == "table", "Data must be a JSON worker record")
  guard.check(isId(r.address), "worker.address must be a 43-character id")
  guard.check(type(r.models) == "table", "worker.models must be a list of model ids")
  local models = {}
  for _, id in ipairs(r.models) do
    guard.check(isId(id), "worker.models must be a list of model ids")
    models[#models + 1] = id
  end
  local rep = r.reputation or {}
  guard.check(type(rep) == "table", "worker.reputation must be an object")
  return {
    address = r.address,
    models = models,
    priceInput = amountField(r, "priceInput", "worker"),
    priceOutput = amountField(r, "priceOutput", "worker"),
    stake = amountField(r, "stake", "worker"),
    maxConcurrency = countField(r, "maxConcurrency", "worker"),
    eligible = r.eligible == true,
    lastHeartbeat = countField(r, "lastHeartbeat", "worker"),
    heartbeatTimeout = countField(r, "heartbeatTimeout", "worker"),
    reputation = {
      completed = countField(rep, "completed", "worker.reputation"),
      strikes = countField(rep, "strikes", "worker.reputation"),
      slashed = countField(rep, "slashed", "worker.reputation"),
    },
  }
end

--- Validates a `Sync-Model` record and keeps the fields tasks use.
function selection.modelRecord(r)
  guard.check(type(r) == "table", "Data must be a JSON model record")
  guard.check(isId(r.id), "model.id must be a 43-character id")
  guard.check(type(r.sha256) == "string" and r.sha256:match("^%x+$") ~= nil and #r.sha256 == 64, "model.sha256 must be 64 hex characters")
  guard.check(type(r.name) == "string" and r.name ~= "", "model.name is required")
  guard.check(isId(r.owner), "model.owner must be a 43-character id")
  local ownerFee = countField(r, "ownerFee", "model")
  guard.check(ownerFee <= 10000, "model.ownerFee must be at most 10000")
  return { id = r.id, sha256 = r.sha256:lower(), name = r.name, owner = r.owner, ownerFee = ownerFee }
end

--- A model by id or by name.
function selection.findModel(models, ref)
  if models[ref] then return models[ref] end
  for _, id in ipairs(order.keys(models)) do
    if models[id].name == ref then return models[id] end
  end
  guard.fail("Unknown model " .. ref)
end

--- Whether a worker record lists the model.
function selection.serves(worker, modelId)
  for _, id in ipairs(worker.models) do
    if id == modelId then return true end
  end
  return false
end

--- The slash that makes faking a result of `fee` a loss when a share
--- `auditRate / 10^6` of results is checked: the cheater gains at most the fee
--- and is caught with that probability, so it must lose at least
--- `fee / rate`, rounded up.
function selection.deterrentSlash(fee, auditRate)
  return amount.mulDivCeil(fee, selection.PPM, auditRate)
end

--- Workers that can take a task now, in address order, each as `{worker, quote}`;
--- or nil and the reason none can. `task` holds model, maxTokens, maxFee and
--- the set of workers that already held it (`exclude`), and `auditRate` when
--- a worker's stake must cover the deterrent slash of its quote; `active`
--- counts each worker's tasks awaiting a result.
function selection.candidates(workers, task, active, now)
  local serving, affordable, staked, free, cheapest = 0, 0, 0, {}, nil
  for _, address in ipairs(order.keys(workers)) do
    local w = workers[address]
    if selection.serves(w, task.model.id) and w.eligible and now - w.lastHeartbeat <= w.heartbeatTimeout and not task.exclude[address] then
      serving = serving + 1
      local quote = fees.quote(w.priceOutput, task.maxTokens, task.model.ownerFee)
      if cheapest == nil or amount.lt(quote, cheapest) then cheapest = quote end
      if amount.le(quote, task.maxFee) then
        affordable = affordable + 1
        if task.auditRate == nil or amount.le(selection.deterrentSlash(quote, task.auditRate), w.stake) then
          staked = staked + 1
          if (active[address] or 0) < w.maxConcurrency then free[#free + 1] = { worker = w, quote = quote } end
        end
      end
    end
  end
  if serving == 0 then return nil, "No available worker serves model " .. task.model.name end
  if affordable == 0 then return nil, "Max-Fee " .. task.maxFee .. " is below the cheapest quote " .. cheapest end
  if staked == 0 then
    return nil,
      "No worker serving model "
        .. task.model.name
        .. " within Max-Fee stakes the slash its quote needs at Audit-Rate "
        .. task.auditRate
        .. " ppm"
  end
  if #free == 0 then return nil, "Every worker serving model " .. task.model.name .. " within Max-Fee is busy" end
  return free
end

--- `stake * (completed + 1) / (completed + 1 + 4 * strikes + 16 * slashed)`,
--- scaled by 10^6 and rounded down.
function selection.weight(worker)
  local rep = worker.reputation
  local num = (rep.completed + 1) * WEIGHT_SCALE
  local den = rep.completed + 1 + 4 * rep.strikes + 16 * rep.slashed
  return amount.mulDiv(worker.stake, num, den)
end

local function fnv1a(text)
  local h = 2166136261
  for i = 1, #text do
    h = ((h ~ text:byte(i)) * 16777619) & 0xFFFFFFFF
  end
  return h
end

--- A 224-bit number from `text`: seven 32-bit FNV-1a hashes of `text .. "#" .. i`.
--- A single 32-bit hash would keep every draw below 2^32, far less than the
--- total weight of real stakes, and always pick the first workers.
function selection.seed(text)
  local seed = bint.zero()
  for i = 1, 7 do
    seed = seed * 4294967296 + fnv1a(text .. "#" .. i)
  end
  return seed
end

--- Picks one of `candidates` with probability proportional to its weight:
--- `seed(seedText) mod total` falls in one worker's span, in address order.
function selection.draw(candidates, seedText)
  local weights, total = {}, bint.zero()
  for i, c in ipairs(candidates) do
    weights[i] = bint(selection.weight(c.worker))
    total = total + weights[i]
  end
  local seed = selection.seed(seedText)
  if total == bint.zero() then return candidates[1 + bint.tointeger(bint.umod(seed, bint(#candidates)))] end
  local r = bint.umod(seed, total)
  for i, w in ipairs(weights) do
    if bint.ult(r, w) then return candidates[i] end
    r = r - w
  end
end

return selection
