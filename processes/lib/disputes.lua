-- Dispute rules (docs/protocol.md, escrow "Disputes"): the dispute
-- parameters, who may referee a challenged task, the seed of the committee
-- draw (the challenger's committed secret and the worker's seed), the draw,
-- the tally, the least bond and the slash an Invalid verdict asks for, and how
-- a bond or slash proceeds are split. Pure: tables, numbers and amount strings
-- in, results out; weavelm.challenges changes the escrow's state and sends the
-- messages.
local crypto = require(".crypto")
local amount = require("weavelm.amount")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local order = require("weavelm.order")
local selection = require("weavelm.selection")

local disputes = {}

local BASIS_POINTS = 10000
-- Durations stay far below aos json's 14 significant digits (see workers.lua).
local MAX_DURATION = 10000000000000

--- `Slash-Amount=all`: the largest amount, so that the registry takes
--- everything the worker holds (stake, then unstaking amount).
disputes.ALL = "all"
disputes.ALL_QUANTITY = string.rep("9", 38)

disputes.DEFAULTS = {
  challengeBond = "1000",
  refereeCount = 3,
  refereeFee = "100",
  refereeTimeout = 3600000,
  slashAmount = "all",
  challengerShare = 5000,
  seedTimeout = 600000,
  revealTimeout = 600000,
  auditRate = selection.PPM,
}

--- The dispute parameters of a `Configure` message, over the current ones.
--- The bond must always be able to pay a full committee its fees.
function disputes.configure(params, msg)
  local function amountTag(name, current, positive)
    local raw = input.optional(msg, name)
    if raw == nil then return current end
    if positive then return tostring(amount.positive(raw, name)) end
    return tostring(amount.parse(raw, name))
  end
  local slash = input.optional(msg, "Slash-Amount")
  if slash ~= nil and slash ~= disputes.ALL then slash = tostring(amount.positive(slash, "Slash-Amount")) end
  local updated = {
    challengeBond = amountTag("Challenge-Bond", params.challengeBond, true),
    refereeCount = input.integer(msg, "Referee-Count", { default = params.refereeCount, min = 1, max = 15 }),
    refereeFee = amountTag("Referee-Fee", params.refereeFee, false),
    refereeTimeout = input.integer(msg, "Referee-Timeout", { default = params.refereeTimeout, min = 1, max = MAX_DURATION }),
    slashAmount = slash or params.slashAmount,
    challengerShare = input.integer(msg, "Challenger-Share", { default = params.challengerShare, min = 0, max = BASIS_POINTS }),
    seedTimeout = input.integer(msg, "Seed-Timeout", { default = params.seedTimeout, min = 1, max = MAX_DURATION }),
    revealTimeout = input.integer(msg, "Reveal-Timeout", { default = params.revealTimeout, min = 1, max = MAX_DURATION }),
    auditRate = input.integer(msg, "Audit-Rate", { default = params.auditRate, min = 1, max = selection.PPM }),
  }
  local committeeFees = amount.mulDiv(updated.refereeFee, updated.refereeCount, 1)
  guard.check(
    amount.le(committeeFees, updated.challengeBond),
    "Challenge-Bond " .. updated.challengeBond .. " is below Referee-Count x Referee-Fee " .. committeeFees
  )
  return updated
end

--- The Quantity of the registry `Slash` for an Invalid result of `fee`: the
--- deterrent slash `ceil(fee * 10^6 / auditRate)` (selection.deterrentSlash),
--- with a numeric `slashAmount` as its floor; `all` asks for everything. The
--- registry takes at most what the worker holds.
function disputes.slashQuantity(slashAmount, fee, auditRate)
  if slashAmount == disputes.ALL then return disputes.ALL_QUANTITY end
  local deterrent = selection.deterrentSlash(fee, auditRate)
  if amount.lt(slashAmount, deterrent) then return deterrent end
  return slashAmount
end

--- The least bond a challenge of a result of `fee` puts up: what a full
--- committee earns plus the fee, and never below Challenge-Bond. A frivolous
--- challenge so pays the referees and at least the fee it held up to the
--- worker (bondSplit).
function disputes.leastBond(params, fee)
  local least = amount.add(amount.mulDiv(params.refereeFee, params.refereeCount, 1), fee)
  if amount.lt(least, params.challengeBond) then return params.challengeBond end
  return least
end

--- SHA-256 of `text`, as 64 lowercase hex characters.
function disputes.sha256(text)
  return crypto.digest.sha2_256(crypto.utils.stream.fromString(text)).asHex()
end

--- The seed of a committee draw: SHA-256 of the challenger's secret, the
--- worker's seed (empty when the worker sent none) and the challenge id, as
--- they are written (hex, hex, id). Neither party knows it before both have
--- spoken: the secret is committed before the worker's seed is known, and the
--- worker chooses its seed knowing only the commitment.
function disputes.drawSeed(secret, workerSeed, challengeId)
  return disputes.sha256(secret .. (workerSeed or "") .. challengeId)
end

--- What a committee draw reads of each candidate (see `referees`), kept in
--- the dispute from the challenge until the draw so that nobody can change
--- the candidates once the secret is committed.
function disputes.snapshot(candidates)
  local out = {}
  for i, c in ipairs(candidates) do
    local w = c.worker
    out[i] = {
      address = w.address,
      stake = w.stake,
      reputation = { completed = w.reputation.completed, strikes = w.reputation.strikes, slashed = w.reputation.slashed },
    }
  end
  return out
end

--- Candidates for `drawCommittee` from a snapshot.
function disputes.fromSnapshot(snapshot)
  local out = {}
  for i, w in ipairs(snapshot) do
    out[i] = { worker = w }
  end
  return out
end

--- A strict majority of a committee of `k`.
function disputes.quorum(k)
  return k // 2 + 1
end

--- Workers that may referee a task of `modelId` at `now`: serving the model,
--- eligible, with a fresh heartbeat, not in `exclude` (a set of addresses).
--- In address order, as `{worker = record}`, ready for `selection.draw`.
--- Price and Max-Concurrency do not matter: referees are paid a fixed fee.
function disputes.referees(workers, modelId, exclude, now)
  local out = {}
  for _, address in ipairs(order.keys(workers)) do
    local w = workers[address]
    if not exclude[address] and w.eligible and now - w.lastHeartbeat <= w.heartbeatTimeout and selection.serves(w, modelId) then
      out[#out + 1] = { worker = w }
    end
  end
  return out
end

--- Draws `k` distinct referees from `candidates` (address order), weighted as
--- selection.draw weighs workers, without replacement: referee `i` is drawn
--- among those not drawn yet with seed text `<seedText>:<i>`. Returns their
--- addresses in draw order.
function disputes.drawCommittee(candidates, k, seedText)
  guard.check(#candidates >= k, "Only " .. #candidates .. " eligible referees; Referee-Count is " .. k)
  local pool = {}
  for i, c in ipairs(candidates) do
    pool[i] = c
  end
  local committee = {}
  for i = 1, k do
    local pick = selection.draw(pool, seedText .. ":" .. i)
    committee[i] = pick.worker.address
    for j, c in ipairs(pool) do
      if c == pick then
        table.remove(pool, j)
        break
      end
    end
  end
  return committee
end

--- Counts the votes of `committee` (`votes`: address -> {verdict}) and returns
--- the verdict, or nil while undecided, then the Valid and Invalid counts.
--- A quorum (strict majority of the committee) decides at once; once `final`
--- (the referee deadline passed) the majority of those who answered decides,
--- and a tie or no answer at all is `Undecided`.
function disputes.tally(committee, votes, final)
  local valid, invalid = 0, 0
  for _, address in ipairs(committee) do
    local vote = votes[address]
    if vote and vote.verdict == "Valid" then valid = valid + 1 end
    if vote and vote.verdict == "Invalid" then invalid = invalid + 1 end
  end
  local quorum = disputes.quorum(#committee)
  local verdict
  if valid >= quorum then
    verdict = "Valid"
  elseif invalid >= quorum then
    verdict = "Invalid"
  elseif final then
    if valid > invalid then
      verdict = "Valid"
    elseif invalid > valid then
      verdict = "Invalid"
    else
      verdict = "Undecided"
    end
  end
  return verdict, valid, invalid
end

--- Splits the committee by `verdict`, in committee order: `majority` voted
--- with it (they are paid), `struck` voted against it or, when the deadline
--- decided (`final`), did not answer. An `Undecided` verdict strikes only the
--- silent. Members who had not voted when a quorum decided are neither.
function disputes.judge(committee, votes, verdict, final)
  local majority, struck = {}, {}
  for _, address in ipairs(committee) do
    local vote = votes[address]
    if vote == nil then
      if final then struck[#struck + 1] = address end
    elseif verdict ~= "Undecided" then
      if vote.verdict == verdict then
        majority[#majority + 1] = address
      else
        struck[#struck + 1] = address
      end
    end
  end
  return majority, struck
end

--- A result upheld (`Valid`): the bond pays each of `majorityCount` referees
--- `refereeFee` and the worker the rest. Configure keeps every bond at least
--- a full committee's fees; should it not cover them, the referees share it.
function disputes.bondSplit(bond, majorityCount, refereeFee)
  local each = refereeFee
  if majorityCount > 0 then each = amount.min(refereeFee, amount.mulDiv(bond, 1, majorityCount)) end
  local referees = amount.mulDiv(each, majorityCount, 1)
  return { referee = each, worker = amount.sub(bond, referees) }
end

--- Slash proceeds of an `Invalid` result: each of `majorityCount` referees
--- gets `refereeFee` (or an equal share when the proceeds fall short), the
--- challenger `challengerShare` basis points of the rest (rounded down), the
--- treasury what remains.
function disputes.proceedsSplit(proceeds, majorityCount, refereeFee, challengerShare)
  local each = "0"
  if majorityCount > 0 then each = amount.min(refereeFee, amount.mulDiv(proceeds, 1, majorityCount)) end
  local rest = amount.sub(proceeds, amount.mulDiv(each, majorityCount, 1))
  local reward = amount.mulDiv(rest, challengerShare, BASIS_POINTS)
  return { referee = each, reward = reward, treasury = amount.sub(rest, reward) }
end

return disputes
