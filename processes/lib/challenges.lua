-- Challenges of completed tasks (docs/protocol.md, escrow "Disputes"): the
-- transitions Completed -> Challenged -> Settled | Invalidated | Completed
-- (lapsed), the dispute's stages Seeding -> Voting -> Resolved (the
-- commit-reveal that seeds the committee's draw, then the votes) and the
-- payments that go with them. Like weavelm.tasks, every function takes the
-- escrow's state tables (plus `self`, the escrow's own id, whose balance is the
-- treasury) and the message time, checks everything that can fail before
-- changing anything, and returns the messages to send. The arithmetic, the
-- committee draw and the tally are weavelm.disputes'.
local amount = require("weavelm.amount")
local channels = require("weavelm.channels")
local disputes = require("weavelm.disputes")
local guard = require("weavelm.guard")
local ledger = require("weavelm.ledger")
local tasks = require("weavelm.tasks")

local challenges = {}

-- A direct request's record has no counts or sampling: those tags are left out.
local function optionalText(n)
  return n ~= nil and tostring(n) or nil
end

local function isMember(committee, address)
  for _, a in ipairs(committee) do
    if a == address then return true end
  end
  return false
end

-- Pays the challenger: into its escrow balance when the bond came from it, by
-- token transfer when the bond came with one. A returned bond carries
-- X-Refund-Reason, so that a recipient refusing it does not send it back.
local function payChallenger(state, task, d, qty, out, payout, reason)
  if amount.isZero(qty) then return end
  if d.perCall then
    out[#out + 1] = {
      Target = state.params.token,
      Action = "Transfer",
      Recipient = d.challenger,
      Quantity = qty,
      ["X-Task-Id"] = task.id,
      ["X-Challenge-Payout"] = payout,
      ["X-Refund-Reason"] = reason,
      ["X-Reference"] = d.reference,
    }
  else
    ledger.credit(state.balances, d.challenger, qty)
  end
end

-- A direct request was paid to the worker by voucher redemption, so an
-- Invalid verdict gives its Fee back to the channel's owner out of the
-- worker's escrow balance; what that lacks is owed from the slash proceeds,
-- before they are shared (distribute). Returns what was refunded now.
local function refundDirect(state, task, d)
  local taken = amount.min(task.fee, ledger.balance(state.balances, task.worker))
  if not amount.isZero(taken) then ledger.move(state.balances, task.worker, task.requester, taken, "worker balance") end
  d.refundOwed = amount.sub(task.fee, taken)
  return taken
end

--- What challengers have bonded in open disputes; with `who`, that one's.
function challenges.bonds(state, who)
  local total = "0"
  for id in pairs(state.open) do
    local task = state.tasks[id]
    if task.state == "Challenged" and (who == nil or task.dispute.challenger == who) then total = amount.add(total, task.dispute.bond) end
  end
  return total
end

--- A `Challenge` (`req`: id of the challenge message, taskId, challenger, bond,
--- position, evidenceTx, seedCommit (SHA-256 hex of the challenger's secret),
--- perCall (bond paid by transfer), reference; or, for a direct request,
--- `task`: the record channels.directTask made (adopted here once everything
--- is checked) or found (a request whose earlier challenge lapsed)): takes the
--- bond (from the challenger's deposit unless it came by transfer), freezes the
--- task and keeps the eligible referees as they are now; the committee is drawn
--- at the reveal. Returns the dispute and the messages (Challenge-Accepted to
--- worker, which asks for its seed, and requester), and the Challenge-Accepted
--- tags with which the handler answers the challenger.
function challenges.open(state, req, now)
  local p = state.params
  local task = req.task or tasks.get(state, req.taskId)
  local id = task.id
  guard.check(task.dispute == nil, "Task " .. id .. " is already challenged")
  guard.check(task.challengeDeadline ~= nil, "Task " .. id .. " has no result to challenge (" .. tostring(task.state) .. ")")
  guard.check(
    now <= task.challengeDeadline,
    "Challenge window of task " .. id .. " closed at Challenge-Deadline " .. task.challengeDeadline
  )
  -- A direct request's new record has no state until it is adopted below.
  guard.check(
    task.state == "Completed" or (req.task and task.state == nil),
    "Task " .. id .. " is not Completed (" .. tostring(task.state) .. ")"
  )
  guard.check(req.challenger ~= task.worker, "The worker of task " .. id .. " cannot challenge its own result")
  -- A direct request's counts are in its receipt only: its referees check the Position.
  guard.check(
    task.outputTokens == nil or req.position <= task.outputTokens,
    "Position " .. req.position .. " is above Output-Tokens " .. tostring(task.outputTokens)
  )
  local fee = task.fee
  local least = disputes.leastBond(p, fee)
  if least == p.challengeBond then
    guard.check(amount.le(least, req.bond), "Bond " .. req.bond .. " is below Challenge-Bond " .. p.challengeBond)
  else
    guard.check(
      amount.le(least, req.bond),
      "Bond " .. req.bond .. " is below " .. least .. ": Referee-Count x Referee-Fee + the Fee " .. fee .. " of task " .. id
    )
  end
  if not req.perCall then
    local available = ledger.balance(state.balances, req.challenger)
    guard.check(amount.le(req.bond, available), "Bond " .. req.bond .. " is above the available balance " .. available)
  end
  -- The requester gains a full refund from an Invalid verdict: it may
  -- challenge, but not judge.
  local exclude = { [task.worker] = true, [req.challenger] = true, [task.requester] = true }
  local candidates = disputes.referees(state.workers, task.model, exclude, now)
  guard.check(
    #candidates >= p.refereeCount,
    "Only " .. #candidates .. " eligible referees for model " .. task.modelName .. "; Referee-Count is " .. p.refereeCount
  )

  if not req.perCall then ledger.debit(state.balances, req.challenger, req.bond) end
  if req.task then
    if state.tasks[id] == nil then
      tasks.adopt(state, task)
    else
      state.tasks[id] = task
    end
    channels.markChallenged(state, task)
  end
  local seedDeadline = now + p.seedTimeout
  local d = {
    id = req.id,
    challenger = req.challenger,
    bond = req.bond,
    perCall = req.perCall,
    reference = req.reference,
    position = req.position,
    evidenceTx = req.evidenceTx,
    challengedAt = now,
    stage = "Seeding",
    seedCommit = req.seedCommit,
    seedDeadline = seedDeadline,
    revealDeadline = seedDeadline + p.revealTimeout,
    candidates = disputes.snapshot(candidates),
    -- The Reveal-Deadline until the committee is drawn, then the Referee-Deadline.
    deadline = seedDeadline + p.revealTimeout,
    committee = {},
    refereeCount = p.refereeCount,
    quorum = disputes.quorum(p.refereeCount),
    votes = {},
    refereeFee = p.refereeFee,
    refereeTimeout = p.refereeTimeout,
    challengerShare = p.challengerShare,
    slashAmount = p.slashAmount,
    auditRate = p.auditRate,
  }
  task.dispute = d
  tasks.move(state, task, "Challenged")

  local function accepted(target, reference)
    return {
      Target = target,
      Action = "Challenge-Accepted",
      ["Task-Id"] = id,
      ["Challenge-Id"] = d.id,
      Worker = task.worker,
      Challenger = d.challenger,
      Bond = d.bond,
      ["Seed-Commit"] = d.seedCommit,
      ["Seed-Deadline"] = tostring(d.seedDeadline),
      ["Reveal-Deadline"] = tostring(d.revealDeadline),
      Quorum = tostring(d.quorum),
      ["X-Reference"] = reference,
    }
  end
  local out = { accepted(task.worker), accepted(task.requester, task.reference) }
  return d, out, accepted(nil, nil)
end

local function seeding(state, id, challengeId)
  local task = tasks.get(state, id)
  local d = guard.check(task.dispute, "Task " .. id .. " is not challenged")
  guard.check(d.id == challengeId, "Challenge " .. challengeId .. " is not the open challenge of task " .. id .. " (" .. d.id .. ")")
  guard.check(d.stage == "Seeding", "The committee of challenge " .. d.id .. " is drawn already")
  return task, d
end

--- The worker's `Dispute-Seed` (64 hex characters it chose at random), once,
--- until Seed-Deadline: its part of the committee's draw. The challenger is
--- told (Dispute-Seeded), so that it can reveal at once. Returns the messages
--- and the Dispute-Seed-Notice tags the handler answers with.
function challenges.seed(state, id, challengeId, worker, seed, now)
  local task, d = seeding(state, id, challengeId)
  guard.check(worker == task.worker, "Only the worker of task " .. id .. " seeds its dispute")
  guard.check(d.workerSeed == nil, "Task " .. id .. " is seeded already")
  guard.check(now <= d.seedDeadline, "Seed-Deadline " .. d.seedDeadline .. " of task " .. id .. " has passed")
  d.workerSeed, d.seededAt = seed, now
  local function seeded(target, action, reference)
    return {
      Target = target,
      Action = action,
      ["Task-Id"] = id,
      ["Challenge-Id"] = d.id,
      Seed = seed,
      ["Reveal-Deadline"] = tostring(d.revealDeadline),
      ["X-Reference"] = reference,
    }
  end
  return { seeded(d.challenger, "Dispute-Seeded", d.reference) }, seeded(nil, "Dispute-Seed-Notice")
end

--- The challenger's `Reveal-Seed`: its secret, checked against Seed-Commit,
--- once the worker has seeded or Seed-Deadline has passed (a secret revealed
--- earlier would let the worker choose its seed) and until Reveal-Deadline.
--- Draws the committee from the candidates kept at the challenge, with the
--- seed of disputes.drawSeed, and sends the Referee-Requests. Returns the
--- messages and the Reveal-Seed-Notice tags the handler answers with.
function challenges.reveal(state, id, challengeId, challenger, secret, now)
  local task, d = seeding(state, id, challengeId)
  guard.check(challenger == d.challenger, "Only the challenger of task " .. id .. " reveals its secret")
  guard.check(now <= d.revealDeadline, "Reveal-Deadline " .. d.revealDeadline .. " of task " .. id .. " has passed")
  guard.check(
    d.workerSeed ~= nil or now > d.seedDeadline,
    "The worker of task " .. id .. " may seed until Seed-Deadline " .. d.seedDeadline .. ": reveal after its Dispute-Seed or then"
  )
  guard.check(disputes.sha256(secret) == d.seedCommit, "Secret does not match the Seed-Commit of challenge " .. d.id)
  local drawSeed = disputes.drawSeed(secret, d.workerSeed, d.id)
  local committee = disputes.drawCommittee(disputes.fromSnapshot(d.candidates), d.refereeCount, drawSeed .. ":referee")
  d.secret, d.drawSeed, d.committee, d.candidates = secret, drawSeed, committee, nil
  d.stage = "Voting"
  d.revealedAt = now
  d.deadline = now + d.refereeTimeout

  local out = {}
  for _, referee in ipairs(d.committee) do
    out[#out + 1] = {
      Target = referee,
      Action = "Referee-Request",
      ["Task-Id"] = id,
      ["Challenge-Id"] = d.id,
      Worker = task.worker,
      Challenger = d.challenger,
      Model = task.model,
      ["Model-SHA256"] = task.modelSha256,
      ["Receipt-Tx"] = task.receiptTx,
      ["Receipt-Hash"] = task.receiptHash,
      ["Input-Tokens"] = optionalText(task.inputTokens),
      ["Output-Tokens"] = optionalText(task.outputTokens),
      Position = tostring(d.position),
      ["Evidence-Tx"] = d.evidenceTx,
      Deadline = tostring(d.deadline),
      ["Max-Tokens"] = optionalText(task.maxTokens),
      Temperature = task.temperature,
      ["Top-K"] = optionalText(task.topK),
      ["Top-P"] = task.topP,
      Seed = optionalText(task.seed),
      Format = task.format,
      Channel = task.channel,
      Fee = task.direct and task.fee or nil,
      ["Prompt-Message"] = task.promptMessage,
      ["Prompt-Tx"] = task.promptTx,
      Data = task.output,
    }
  end
  local function drawn(target, action, reference)
    return {
      Target = target,
      Action = action,
      ["Task-Id"] = id,
      ["Challenge-Id"] = d.id,
      Referees = table.concat(d.committee, ","),
      Quorum = tostring(d.quorum),
      ["Referee-Deadline"] = tostring(d.deadline),
      ["Draw-Seed"] = d.drawSeed,
      ["Worker-Seed"] = d.workerSeed,
      ["X-Reference"] = reference,
    }
  end
  out[#out + 1] = drawn(task.worker, "Committee-Drawn")
  out[#out + 1] = drawn(task.requester, "Committee-Drawn", task.reference)
  return out, drawn(nil, "Reveal-Seed-Notice")
end

--- A challenge whose secret was not revealed by Reveal-Deadline lapses: the
--- bond goes to the treasury (a challenger that dislikes the committee the
--- worker's seed gives cannot draw again for free, and a worker cannot buy
--- its result a reprieve with a bond it gets back), and the task is Completed
--- again with the time it was frozen added to its window, open to another
--- challenge. A direct request's window is then at least a Challenge-Window
--- from Reveal-Deadline: while its channel is open it has none of its own.
local function lapse(state, task, now)
  local d = task.dispute
  ledger.credit(state.balances, state.self, d.bond)
  d.stage, d.lapsedAt, d.candidates = "Lapsed", now, nil
  task.lapsed = task.lapsed or {}
  task.lapsed[#task.lapsed + 1] = d
  task.dispute = nil
  local deadline = task.challengeDeadline + (d.revealDeadline - d.challengedAt)
  if task.direct then deadline = math.max(deadline, d.revealDeadline + state.params.challengeWindow) end
  task.challengeDeadline = deadline
  tasks.move(state, task, "Completed")
  local function lapsed(target, reference)
    return {
      Target = target,
      Action = "Challenge-Lapsed",
      ["Task-Id"] = task.id,
      ["Challenge-Id"] = d.id,
      Bond = d.bond,
      ["Reveal-Deadline"] = tostring(d.revealDeadline),
      ["Challenge-Deadline"] = tostring(deadline),
      ["X-Reference"] = reference,
    }
  end
  return { lapsed(d.challenger, d.reference), lapsed(task.worker), lapsed(task.requester, task.reference) }
end

local function resolve(state, task, verdict, final, now, out)
  local d = task.dispute
  local majority, struck = disputes.judge(d.committee, d.votes, verdict, final)
  local _, valid, invalid = disputes.tally(d.committee, d.votes, final)
  d.verdict, d.resolvedAt, d.valid, d.invalid = verdict, now, valid, invalid
  d.stage = "Resolved"
  d.resolution = final and "Deadline" or "Quorum"
  d.majority, d.struck = majority, struck
  local details = {}

  if verdict == "Invalid" then
    local reason = "Result judged invalid by the referees"
    local refund = task.locked
    if task.direct then
      refund = refundDirect(state, task, d)
    else
      tasks.payBack(state, task, refund, out, reason)
    end
    payChallenger(state, task, d, d.bond, out, "Bond", "Challenge upheld: bond returned")
    task.refund, task.error, task.refundedAt = refund, reason, now
    tasks.move(state, task, "Invalidated")
    d.slashRequested = disputes.slashQuantity(d.slashAmount, task.fee, d.auditRate)
    out[#out + 1] = {
      Target = state.params.registry,
      Action = "Slash",
      Worker = task.worker,
      Quantity = d.slashRequested,
      ["Task-Id"] = task.id,
      Recipient = state.self,
    }
    out[#out + 1] = {
      Target = task.requester,
      Action = "Infer-Refunded",
      ["Task-Id"] = task.id,
      Error = reason,
      Refund = refund,
      ["X-Reference"] = task.reference,
    }
    details.Refund = refund
  else
    if verdict == "Valid" then
      local split = disputes.bondSplit(d.bond, #majority, d.refereeFee)
      for _, referee in ipairs(majority) do
        ledger.credit(state.balances, referee, split.referee)
      end
      if not amount.isZero(split.worker) then ledger.credit(state.balances, task.worker, split.worker) end
      d.refereePay, d.workerShare = split.referee, split.worker
      details["Referee-Fee"], details["Worker-Share"] = split.referee, split.worker
    else
      payChallenger(state, task, d, d.bond, out, "Bond", "Challenge undecided: bond returned")
    end
    for _, m in ipairs(tasks.settle(state, task, now)) do
      out[#out + 1] = m
    end
  end

  for _, referee in ipairs(struck) do
    out[#out + 1] = tasks.recordOutcome(state, referee, "Strike", task)
  end
  local function resolved(target, reference)
    local m = {
      Target = target,
      Action = "Challenge-Resolved",
      ["Task-Id"] = task.id,
      ["Challenge-Id"] = d.id,
      Verdict = verdict,
      Resolution = d.resolution,
      ["Valid-Votes"] = tostring(valid),
      ["Invalid-Votes"] = tostring(invalid),
      Majority = table.concat(majority, ","),
      Struck = table.concat(struck, ","),
      Bond = d.bond,
      ["X-Reference"] = reference,
    }
    for k, v in pairs(details) do
      m[k] = v
    end
    return m
  end
  out[#out + 1] = resolved(d.challenger, d.reference)
  out[#out + 1] = resolved(task.worker)
  out[#out + 1] = resolved(task.requester, task.reference)
  for _, referee in ipairs(d.committee) do
    out[#out + 1] = resolved(referee)
  end
  return out
end

--- A committee member's `Referee-Verdict` (Valid or Invalid, with the
--- transaction of its report): counted once, while the dispute is open; a
--- quorum resolves the dispute at once.
function challenges.vote(state, id, referee, verdict, reportTx, now)
  local task = tasks.get(state, id)
  local d = guard.check(task.dispute, "Task " .. id .. " is not challenged")
  guard.check(isMember(d.committee, referee), "Not a referee of task " .. id)
  guard.check(d.votes[referee] == nil, "Already voted on task " .. id)
  guard.check(task.state == "Challenged", "The challenge of task " .. id .. " is resolved (" .. tostring(d.verdict) .. ")")
  guard.check(now <= d.deadline, "Referee-Deadline " .. d.deadline .. " of task " .. id .. " has passed")
  d.votes[referee] = { verdict = verdict, reportTx = reportTx, at = now }
  local decided, valid, invalid = disputes.tally(d.committee, d.votes, false)
  local out = {
    {
      Target = referee,
      Action = "Referee-Verdict-Notice",
      ["Task-Id"] = id,
      Verdict = verdict,
      ["Valid-Votes"] = tostring(valid),
      ["Invalid-Votes"] = tostring(invalid),
    },
  }
  if decided then resolve(state, task, decided, false, now, out) end
  return out
end

--- Lazy upkeep of a challenged task: past its Reveal-Deadline unrevealed, the
--- challenge lapses; past its Referee-Deadline, those who answered decide (a
--- tie or silence: Undecided).
function challenges.upkeep(state, task, now)
  if task.state ~= "Challenged" or now <= task.dispute.deadline then return {} end
  if task.dispute.stage == "Seeding" then return lapse(state, task, now) end
  local verdict = disputes.tally(task.dispute.committee, task.dispute.votes, true)
  return resolve(state, task, verdict, true, now, {})
end

local function distribute(state, task, qty, now)
  local d = task.dispute
  local refund = amount.min(d.refundOwed or "0", qty)
  if not amount.isZero(refund) then
    ledger.credit(state.balances, task.requester, refund)
    task.refund = amount.add(task.refund, refund)
    d.refundOwed = amount.sub(d.refundOwed, refund)
  end
  local split = disputes.proceedsSplit(amount.sub(qty, refund), #d.majority, d.refereeFee, d.challengerShare)
  local out = {}
  for _, referee in ipairs(d.majority) do
    if not amount.isZero(split.referee) then ledger.credit(state.balances, referee, split.referee) end
  end
  payChallenger(state, task, d, split.reward, out, "Reward")
  if not amount.isZero(split.treasury) then ledger.credit(state.balances, state.self, split.treasury) end
  d.proceeds, d.reward, d.refereePay, d.treasury, d.distributedAt = qty, split.reward, split.referee, split.treasury, now
  local function notice(target, reference)
    return {
      Target = target,
      Action = "Slash-Distributed",
      ["Task-Id"] = task.id,
      ["Challenge-Id"] = d.id,
      Proceeds = qty,
      Reward = split.reward,
      ["Referee-Fee"] = split.referee,
      Treasury = split.treasury,
      Refund = task.direct and refund or nil,
      ["X-Reference"] = reference,
    }
  end
  out[#out + 1] = notice(d.challenger, d.reference)
  if task.direct then out[#out + 1] = notice(task.requester) end
  for _, referee in ipairs(d.majority) do
    out[#out + 1] = notice(referee)
  end
  return out
end

local function awaitingProceeds(task)
  local d = task and task.dispute
  return d ~= nil and d.verdict == "Invalid" and d.proceeds == nil
end

--- Slash proceeds: a token Credit-Notice from the registry with X-Slash-Task.
--- They go to the task's majority referees, challenger and the treasury.
--- Proceeds that match no invalidated task awaiting them (none should: only
--- this escrow asks for slashes) stay in the treasury: sent back to the
--- registry they would belong to no stake.
function challenges.proceeds(state, taskId, qty, now)
  local task = state.tasks[taskId]
  if not awaitingProceeds(task) then
    ledger.credit(state.balances, state.self, qty)
    return {}
  end
  return distribute(state, task, qty, now)
end

--- The registry's `Slash-Notice`: records what it took. Nothing taken means
--- no proceeds will come, so the dispute is closed with nothing to share.
function challenges.slashNotice(state, taskId, taken, now)
  local task = tasks.get(state, taskId)
  guard.check(task.dispute ~= nil and task.dispute.verdict == "Invalid", "Task " .. taskId .. " was not judged invalid")
  task.dispute.slashed = taken
  if amount.isZero(taken) and awaitingProceeds(task) then return distribute(state, task, "0", now) end
  return {}
end

return challenges
