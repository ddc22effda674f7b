-- Worker rules: registration terms, stakes and their cooldown, slashing,
-- reputation and eligibility. Pure: the caller passes the state tables
-- (`registry`: address -> worker record, `stakes`: address -> stake record,
-- `params`: the registry's parameters), the sender and the time in, and sends
-- whatever follows. Every check runs before the first change, so a failure
-- leaves the state as it was.
local order = require("weavelm.order")
local amount = require("weavelm.amount")
local guard = require("weavelm.guard")
local input = require("weavelm.input")

local workers = {}

-- Durations stay far enough below aos json's 14 significant digits that a
-- timestamp plus a duration is still written exactly.
local MAX_DURATION = 10000000000000

local OUTCOME_COUNTERS = { Completed = "completed", Strike = "strikes" }

local function optionalId(msg, name, current)
  if input.optional(msg, name) == nil then return current end
  return input.id(msg, name)
end

--- Applies a Configure message to `params`, returning the new parameters.
--- Stakes are held in the configured token, so it cannot change under them.
function workers.configure(params, msg, stakes)
  local minStake = input.optional(msg, "Min-Stake")
  local updated = {
    token = optionalId(msg, "Token", params.token),
    escrow = optionalId(msg, "Escrow", params.escrow),
    minStake = minStake and tostring(amount.parse(minStake, "Min-Stake")) or params.minStake,
    unstakeCooldown = input.integer(msg, "Unstake-Cooldown", { min = 0, max = MAX_DURATION, default = params.unstakeCooldown }),
    heartbeatTimeout = input.integer(msg, "Heartbeat-Timeout", { min = 1, max = MAX_DURATION, default = params.heartbeatTimeout }),
  }
  guard.check(updated.token == params.token or next(stakes) == nil, "Token cannot change while stakes are held")
  return updated
end

local function parseModels(list, knownModels)
  local ids, seen = {}, {}
  for item in list:gmatch("[^,]+") do
    local id = item:match("^%s*(.-)%s*$")
    guard.check(#id == 43 and id:match("^[%w_%-]+$") ~= nil, "Models: '" .. id .. "' is not a 43-character id")
    guard.check(not seen[id], "Models lists " .. id .. " twice")
    guard.check(knownModels[id] ~= nil, "Unknown model " .. id)
    seen[id] = true
    ids[#ids + 1] = id
  end
  guard.check(#ids > 0, "Models must name at least one model")
  return ids
end

--- Reads the terms a worker offers. `partial` (Update-Worker) takes whichever
--- tags are present; otherwise (Register-Worker) all but Endpoint are required.
function workers.parseTerms(msg, knownModels, partial)
  local function wanted(name)
    return not partial or input.optional(msg, name) ~= nil
  end
  local terms = {}
  if wanted("Models") then terms.models = parseModels(input.required(msg, "Models"), knownModels) end
  if wanted("Price-Input") then terms.priceInput = tostring(amount.parse(msg.Tags["Price-Input"], "Price-Input")) end
  if wanted("Price-Output") then terms.priceOutput = tostring(amount.parse(msg.Tags["Price-Output"], "Price-Output")) end
  if wanted("Max-Concurrency") then terms.maxConcurrency = input.integer(msg, "Max-Concurrency", { min = 1, max = 64 }) end
  if wanted("Hardware") then terms.hardware = input.text(msg, "Hardware", 256) end
  local endpoint = input.optional(msg, "Endpoint")
  if endpoint then
    guard.check(
      #endpoint <= 256 and endpoint:match("^https?://[^%s%c]+$") ~= nil,
      "Endpoint must be an http(s) URL of at most 256 characters"
    )
    terms.endpoint = endpoint
  end
  return terms
end

--- The stake record of `address`; a fresh zero record when it holds nothing.
function workers.stakeOf(stakes, address)
  return stakes[address] or { staked = "0", unstaking = "0", availableAt = 0 }
end

-- Empty stake records are dropped so that `stakes` lists exactly the holders.
local function store(stakes, address, s)
  if amount.isZero(s.unstaking) then s.availableAt = 0 end
  if amount.isZero(s.staked) and amount.isZero(s.unstaking) then
    stakes[address] = nil
  else
    stakes[address] = s
  end
end

local function registered(registry, address)
  local w = registry[address]
  guard.check(w ~= nil, "Worker " .. tostring(address) .. " is not registered")
  return w
end

function workers.register(registry, stakes, params, address, terms, now)
  guard.check(params.escrow ~= nil, "The registry has no escrow configured yet")
  guard.check(registry[address] == nil, "Already registered; use Update-Worker")
  local staked = workers.stakeOf(stakes, address).staked
  guard.check(amount.le(params.minStake, staked), "Stake " .. staked .. " is below Min-Stake " .. params.minStake)
  -- Registering proves the worker is up: it counts as its first heartbeat.
  local w = {
    address = address,
    registeredAt = now,
    lastHeartbeat = now,
    reputation = { completed = 0, strikes = 0, slashed = 0 },
  }
  for k, v in pairs(terms) do
    w[k] = v
  end
  registry[address] = w
  return w
end

function workers.update(registry, address, terms)
  local w = registered(registry, address)
  for k, v in pairs(terms) do
    w[k] = v
  end
  return w
end

function workers.heartbeat(registry, address, now)
  registered(registry, address).lastHeartbeat = now
end

--- Adds `qty` to the stake of `address` (registered or not); returns the stake.
function workers.stake(stakes, address, qty)
  local s = workers.stakeOf(stakes, address)
  s.staked = amount.add(s.staked, qty)
  store(stakes, address, s)
  return s.staked
end

--- Moves `qty` (nil: all) from the stake to the unstaking amount. The whole
--- unstaking amount becomes available `cooldown` after the latest Unstake.
--- Returns the quantity and when it can be withdrawn.
function workers.unstake(stakes, address, qty, now, cooldown)
  local s = workers.stakeOf(stakes, address)
  guard.check(not amount.isZero(s.staked), "Nothing staked")
  qty = qty or s.staked
  guard.check(amount.le(qty, s.staked), "Quantity " .. qty .. " is above the stake " .. s.staked)
  s.staked = amount.sub(s.staked, qty)
  s.unstaking = amount.add(s.unstaking, qty)
  s.availableAt = now + cooldown
  store(stakes, address, s)
  return qty, s.availableAt
end

--- Releases the whole unstaking amount once its cooldown is over; returns it.
function workers.withdraw(stakes, address, now)
  local s = workers.stakeOf(stakes, address)
  guard.check(not amount.isZero(s.unstaking), "Nothing unstaked")
  guard.check(now >= s.availableAt, "Cooldown not over: Available-At " .. s.availableAt)
  local qty = s.unstaking
  s.unstaking = "0"
  store(stakes, address, s)
  return qty
end

--- Takes up to `qty` from the worker's stake, then from its unstaking amount
--- (a worker cannot escape a slash by unstaking first), and counts the slash
--- in its reputation. Returns the quantity taken, possibly "0".
function workers.slash(registry, stakes, address, qty)
  local w = registered(registry, address)
  local s = workers.stakeOf(stakes, address)
  local fromStake = amount.min(qty, s.staked)
  local fromUnstaking = amount.min(amount.sub(qty, fromStake), s.unstaking)
  s.staked = amount.sub(s.staked, fromStake)
  s.unstaking = amount.sub(s.unstaking, fromUnstaking)
  store(stakes, address, s)
  w.reputation.slashed = w.reputation.slashed + 1
  return amount.add(fromStake, fromUnstaking)
end

function workers.recordOutcome(registry, address, outcome)
  local counter = OUTCOME_COUNTERS[outcome]
  guard.check(counter ~= nil, "Outcome must be Completed or Strike")
  local w = registered(registry, address)
  w.reputation[counter] = w.reputation[counter] + 1
end

--- Registered with at least Min-Stake staked. Heartbeat freshness is judged
--- by the escrow against each task's own timestamp.
function workers.eligible(registry, stakes, params, address)
  return registry[address] ~= nil and amount.le(params.minStake, workers.stakeOf(stakes, address).staked)
end

--- The fields the escrow mirrors (`Sync-Worker`).
function workers.syncRecord(registry, stakes, params, address)
  local w = registered(registry, address)
  return {
    address = address,
    models = w.models,
    priceInput = w.priceInput,
    priceOutput = w.priceOutput,
    maxConcurrency = w.maxConcurrency,
    stake = workers.stakeOf(stakes, address).staked,
    eligible = workers.eligible(registry, stakes, params, address),
    lastHeartbeat = w.lastHeartbeat,
    heartbeatTimeout = params.heartbeatTimeout,
    reputation = { completed = w.reputation.completed, strikes = w.reputation.strikes, slashed = w.reputation.slashed },
    hardware = w.hardware,
    endpoint = w.endpoint,
  }
end

--- What the `Worker` read shows: the synced record plus the unstaking amount,
--- or only the stake for an address that staked but has not registered.
--- Nil when `address` is unknown.
function workers.view(registry, stakes, params, address)
  local w = registry[address]
  if w == nil and stakes[address] == nil then return nil end
  local s = workers.stakeOf(stakes, address)
  local view
  if w then
    view = workers.syncRecord(registry, stakes, params, address)
    view.registeredAt = w.registeredAt
  else
    view = { address = address, stake = s.staked }
  end
  view.registered = w ~= nil
  view.unstaking = { amount = s.unstaking, availableAt = s.availableAt }
  return view
end

--- Registered addresses in a fixed order: messages sent while iterating must
--- come out the same on every CU, which `pairs` does not promise.
function workers.addresses(registry)
  return order.keys(registry)
end

--- Views of the registered workers, serving `modelId` when given.
function workers.list(registry, stakes, params, modelId)
  local out = {}
  for _, address in ipairs(order.keys(registry)) do
    local serves = modelId == nil
    for _, id in ipairs(registry[address].models) do
      serves = serves or id == modelId
    end
    if serves then out[#out + 1] = workers.view(registry, stakes, params, address) end
  end
  return out
end

--- How many workers are registered, and how many of them are eligible.
function workers.counts(registry, stakes, params)
  local total, eligible = 0, 0
  for address in pairs(registry) do
    total = total + 1
    if workers.eligible(registry, stakes, params, address) then eligible = eligible + 1 end
  end
  return total, eligible
end

--- Sums of the stakes and of the unstaking amounts: together, what the
--- registry must hold in the token.
function workers.totals(stakes)
  local staked, unstaking = "0", "0"
  for _, s in pairs(stakes) do
    staked = amount.add(staked, s.staked)
    unstaking = amount.add(unstaking, s.unstaking)
  end
  return staked, unstaking
end

return workers
