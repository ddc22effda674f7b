-- weavelm escrow: deposits, inference tasks, their fees and disputes, and the
-- prepaid channels of direct mode (docs/protocol.md, "escrow"). Handlers parse
-- tags, call the rules in weavelm.tasks, weavelm.challenges and
-- weavelm.channels and send what the rules return; the
-- registry's Sync-* notices keep a mirror of models and workers so that an
-- Infer is assigned, and a referee committee drawn, without a round trip.
-- Every message to a wallet or dApp is also published in its mailbox
-- (weavelm.mailbox), and Apus-style requests are answered in Apus's form
-- (weavelm.apus).
local json = require("json")
local amount = require("weavelm.amount")
local apus = require("weavelm.apus")
local challenges = require("weavelm.challenges")
local channels = require("weavelm.channels")
local disputes = require("weavelm.disputes")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local ledger = require("weavelm.ledger")
local mailbox = require("weavelm.mailbox")
local selection = require("weavelm.selection")
local tasks = require("weavelm.tasks")

Params = Params or {
  token = nil,
  registry = nil,
  challengeWindow = 3600000,
  taskTimeout = 300000,
  maxAttempts = 3,
}
-- Dispute parameters, also for an escrow upgraded by a re-Eval.
for name, value in pairs(disputes.DEFAULTS) do
  if Params[name] == nil then Params[name] = value end
end
-- Channel parameters, likewise.
for name, value in pairs(channels.DEFAULTS) do
  if Params[name] == nil then Params[name] = value end
end
Balances = Balances or {}
Tasks = Tasks or {}
OpenTasks = OpenTasks or {}
TaskOrder = TaskOrder or {}
TaskCounts = TaskCounts or {}
Models = Models or {}
Workers = Workers or {}
Channels = Channels or {}
LiveChannels = LiveChannels or {}
ChannelOrder = ChannelOrder or {}
-- Published key -> ring of messages (weavelm.mailbox).
Mailboxes = Mailboxes or {}
if Params.publishCache == nil then Params.publishCache = mailbox.defaultPublishing(ao.env.Process.Tags) end

local function state()
  return {
    tasks = Tasks,
    open = OpenTasks,
    order = TaskOrder,
    counts = TaskCounts,
    balances = Balances,
    workers = Workers,
    models = Models,
    params = Params,
    self = ao.id,
    channels = Channels,
    liveChannels = LiveChannels,
    channelOrder = ChannelOrder,
  }
end

local function now(msg)
  return guard.check(tonumber(msg.Timestamp), "Message has no Timestamp")
end

-- Mailbox keys changed since they were last published.
local unpublished = {}

local function isProcess(target)
  return target == Params.token or target == Params.registry
end

-- Send, msg.reply and guard.reply all end in ao.send, so every message is
-- recorded here once, whatever path sent it. aos's own ao.send is kept in a
-- global: a re-Eval (an upgrade) would otherwise wrap the wrapper and record
-- every message twice.
AosSend = AosSend or ao.send
ao.send = function(msg) -- luacheck: ignore 122 (wrapping aos's send is the point)
  mailbox.record(Mailboxes, unpublished, msg, isProcess)
  return AosSend(msg)
end

-- One patch@1.0 message per evaluation, with every key that changed in it:
-- run after each guarded handler (guard.after), and by the last handler for a
-- message that none of them took. It has no Target, so it is not recorded.
-- With Publish-Cache off the keys are only read by `Published`.
local function publish()
  local changed = unpublished
  unpublished = {}
  if Params.publishCache ~= "on" then return end
  local cache = mailbox.patch(Mailboxes, changed)
  if cache then ao.send({ device = "patch@1.0", cache = cache }) end
end
guard.after = publish

-- Sends what a rule returned, with the Infer-Response an Apus-style request
-- expects beside each Infer-Result and Infer-Refunded.
local function sendAll(messages)
  for _, m in ipairs(messages) do
    Send(m)
    local answer = apus.answer(Tasks[m["Task-Id"]], m)
    if answer then Send(answer) end
  end
end

local function count(t)
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  return n
end

-- What the escrow owes: escrow balances (the treasury's included), what open
-- tasks lock, the bonds of open disputes and what channels have not paid.
local function liabilities()
  return amount.add(
    amount.add(amount.add(amount.sum(Balances), tasks.locked(state())), challenges.bonds(state())),
    channels.locked(state())
  )
end

local function paramTags()
  return {
    Token = Params.token,
    Registry = Params.registry,
    ["Challenge-Window"] = tostring(Params.challengeWindow),
    ["Task-Timeout"] = tostring(Params.taskTimeout),
    ["Max-Attempts"] = tostring(Params.maxAttempts),
    ["Challenge-Bond"] = Params.challengeBond,
    ["Referee-Count"] = tostring(Params.refereeCount),
    ["Referee-Fee"] = Params.refereeFee,
    ["Referee-Timeout"] = tostring(Params.refereeTimeout),
    ["Slash-Amount"] = Params.slashAmount,
    ["Challenger-Share"] = tostring(Params.challengerShare),
    ["Seed-Timeout"] = tostring(Params.seedTimeout),
    ["Reveal-Timeout"] = tostring(Params.revealTimeout),
    ["Audit-Rate"] = tostring(Params.auditRate),
    ["Channel-Refund-Lock"] = tostring(Params.channelRefundLock),
    ["Default-Model"] = Params.defaultModel,
    ["Publish-Cache"] = Params.publishCache,
  }
end

-- Tasks upkept while handling the current message: an explicit Settle of one of
-- them succeeds although upkeep already paid it. Likewise a Close-Channel of a
-- channel upkeep just closed.
local settledNow = {}
local closedNow = {}

-- Runs before every other handler and lets them run after it ("continue").
-- Failures here must not reach the message's own handler or drop the outbox,
-- so each task is upkept under its own pcall.
Handlers.prepend("upkeep", function()
  return "continue"
end, function(msg)
  settledNow = {}
  local t = tonumber(msg.Timestamp)
  if not t then return end
  for _, task in ipairs(tasks.openTasks(state())) do
    local rule = task.state == "Challenged" and challenges.upkeep or tasks.upkeep
    local ok, out = pcall(rule, state(), task, t)
    if ok then
      sendAll(out)
      if task.state == "Settled" then settledNow[task.id] = true end
    else
      print("upkeep of task " .. task.id .. " failed: " .. tostring(out))
    end
  end
  closedNow = {}
  for _, channel in ipairs(channels.due(state(), t)) do
    local ok, out = pcall(channels.finalize, state(), channel)
    if ok then
      sendAll(out)
      closedNow[channel.id] = true
    else
      print("upkeep of channel " .. channel.id .. " failed: " .. tostring(out))
    end
  end
end)

guard.handle("Configure", "Configure", function(msg)
  guard.check(msg.From == Owner, "Only the owner may configure")
  local token = msg.Tags.Token and input.id(msg, "Token") or Params.token
  local registry = msg.Tags.Registry and input.id(msg, "Registry") or Params.registry
  local window = input.integer(msg, "Challenge-Window", { default = Params.challengeWindow, min = 0 })
  local timeout = input.integer(msg, "Task-Timeout", { default = Params.taskTimeout, min = 1 })
  local attempts = input.integer(msg, "Max-Attempts", { default = Params.maxAttempts, min = 1, max = 16 })
  local disputeParams = disputes.configure(Params, msg)
  local channelParams = channels.configure(Params, msg)
  local apusParams = apus.configure(Params, msg)
  local mailboxParams = mailbox.configure(Params, msg)
  guard.check(
    token == Params.token or Params.token == nil or amount.isZero(liabilities()),
    "Token cannot change while the escrow holds tokens"
  )
  Params.token, Params.registry = token, registry
  Params.challengeWindow, Params.taskTimeout, Params.maxAttempts = window, timeout, attempts
  for name, value in pairs(disputeParams) do
    Params[name] = value
  end
  for name, value in pairs(channelParams) do
    Params[name] = value
  end
  for name, value in pairs(apusParams) do
    Params[name] = value
  end
  for name, value in pairs(mailboxParams) do
    Params[name] = value
  end
  local reply = paramTags()
  reply.Action = "Configure-Notice"
  msg.reply(reply)
end)

local function syncRecord(msg)
  guard.check(Params.registry ~= nil and msg.From == Params.registry, "Only the registry may sync")
  local ok, record = pcall(json.decode, msg.Data or "")
  guard.check(ok, "Data must be JSON")
  return record
end

-- No reply on success: these are notices between processes, and an answer
-- would only add traffic to the registry.
guard.handle("Sync-Model", "Sync-Model", function(msg)
  local model = selection.modelRecord(syncRecord(msg))
  Models[model.id] = model
end)

guard.handle("Sync-Worker", "Sync-Worker", function(msg)
  local worker = selection.workerRecord(syncRecord(msg))
  Workers[worker.address] = worker
end)

local function isChat(prompt)
  local ok, messages = pcall(json.decode, prompt)
  if not ok or type(messages) ~= "table" or #messages == 0 then return false end
  for _, m in ipairs(messages) do
    if type(m) ~= "table" or type(m.role) ~= "string" or type(m.content) ~= "string" then return false end
  end
  return true
end

-- The Infer parameters from `tags`: the message itself for a direct Infer, a
-- view of the forwarded `X-` tags for one paid by token transfer.
local function inferRequest(tags, prompt)
  local req = {
    model = selection.findModel(Models, input.required(tags, "Model")),
    maxTokens = input.integer(tags, "Max-Tokens", { default = 256, min = 1, max = 32768 }),
    temperature = input.decimal(tags, "Temperature", { default = "0", min = 0, max = 2 }),
    topK = input.integer(tags, "Top-K", { default = 40, min = 0, max = 1000 }),
    topP = input.decimal(tags, "Top-P", { default = "1", min = 0, max = 1 }),
    seed = input.integer(tags, "Seed", { default = 0, min = 0, max = 4294967295 }),
    format = input.oneOf(tags, "Format", { "text", "chat" }, "text"),
  }
  if input.optional(tags, "Prompt-Tx") then
    req.promptTx = input.id(tags, "Prompt-Tx")
    req.prompt = ""
  else
    guard.check(prompt ~= nil and prompt ~= "", "A prompt is required (Data, or Prompt-Tx)")
    guard.check(req.format ~= "chat" or isChat(prompt), "A chat prompt must be a JSON list of {role, content}")
    req.prompt = prompt
  end
  return req
end

local function startTask(msg, req, requester, perCall)
  req.id = msg.Id
  req.requester = requester
  req.perCall = perCall
  -- What guard.reply puts on Infer-Accepted, kept for the replies that follow.
  if perCall then
    req.reference = msg.Tags["X-Reference"]
  else
    req.reference = msg.Tags["X-Reference"] or msg.Reference
  end
  local task, out = tasks.create(state(), req, now(msg))
  -- Marks the task for apus.answer.
  task.apus = req.apus
  guard.reply(msg, { Action = "Infer-Accepted", ["Task-Id"] = task.id, Worker = task.worker, Deadline = tostring(task.deadline) })
  sendAll(out)
end

-- An Apus-style Infer: parameters from X-Options; without a Max-Fee, the
-- worst case of the priciest worker that could take it (apus.maxFee).
local function inferApus(msg)
  local tags = apus.params(msg, Params.defaultModel)
  local req = inferRequest(tags, msg.Tags["X-Prompt"])
  if input.optional(tags, "Max-Fee") then
    req.maxFee = tostring(amount.positive(tags.Tags["Max-Fee"], "Max-Fee"))
  else
    req.maxFee = apus.maxFee(Workers, tasks.activeCounts(state()), req, ledger.balance(Balances, msg.From), now(msg))
  end
  req.locked = req.maxFee
  req.apus = true
  startTask(msg, req, msg.From, false)
end

guard.handle("Infer", "Infer", function(msg)
  if apus.isRequest(msg) then return inferApus(msg) end
  local req = inferRequest(msg, msg.Data)
  req.maxFee = tostring(amount.positive(msg.Tags["Max-Fee"], "Max-Fee"))
  req.locked = req.maxFee
  startTask(msg, req, msg.From, false)
end, function(msg, text)
  -- An Apus dApp handles only Infer-Response.
  if apus.isRequest(msg) then guard.reply(msg, apus.refusal(text)) end
end)

-- A per-call Infer reads its parameters from the forwarded `X-` tags.
local function forwarded(msg)
  return { Tags = setmetatable({}, {
    __index = function(_, name)
      return msg.Tags["X-" .. name]
    end,
  }) }
end

-- A Challenge from `tags` (the message, or the forwarded tags of a bond paid
-- by transfer); `bond` comes from the deposit unless `perCall`. It names a
-- Task-Id, or a direct request by Channel, Request-Id, Receipt-Hash, Batch-Tx
-- and Fee (channels.directTask), and commits to the challenger's secret
-- (Seed-Commit) that seeds the committee's draw with the worker's seed.
local function openChallenge(msg, tags, challenger, bond, perCall)
  local task, taskId
  if input.optional(tags, "Channel") and not input.optional(tags, "Task-Id") then
    task = channels.directTask(state(), {
      channel = input.required(tags, "Channel"),
      requestId = input.id(tags, "Request-Id"),
      receiptHash = input.sha256Hex(tags, "Receipt-Hash"),
      batchTx = input.id(tags, "Batch-Tx"),
      fee = tostring(amount.positive(input.tag(tags, "Fee"), "Fee")),
    }, now(msg))
  else
    taskId = input.required(tags, "Task-Id")
  end
  local req = {
    id = msg.Id,
    taskId = taskId,
    task = task,
    position = input.integer(tags, "Position", { min = 0, max = 2147483647 }),
    evidenceTx = input.id(tags, "Evidence-Tx"),
    seedCommit = input.sha256Hex(tags, "Seed-Commit"),
    challenger = challenger,
    bond = bond,
    perCall = perCall,
  }
  -- What guard.reply puts on Challenge-Accepted, kept for the later payouts.
  if perCall then
    req.reference = msg.Tags["X-Reference"]
  else
    req.reference = msg.Tags["X-Reference"] or msg.Reference
  end
  local _, out, reply = challenges.open(state(), req, now(msg))
  guard.reply(msg, reply)
  sendAll(out)
end

-- An Open-Channel from `tags` (the message, or the forwarded tags of a
-- transfer); `qty` comes from the owner's deposit when `fromDeposit`.
local function openChannel(msg, tags, owner, qty, fromDeposit)
  local req = {
    id = msg.Id,
    owner = owner,
    quantity = qty,
    fromDeposit = fromDeposit,
    worker = input.optional(tags, "Worker"),
    model = input.optional(tags, "Model"),
    channel = input.optional(tags, "Channel"),
  }
  local out, reply = channels.open(state(), req, now(msg))
  guard.reply(msg, reply)
  sendAll(out)
end

guard.handle("Credit-Notice", "Credit-Notice", function(msg)
  guard.check(Params.token ~= nil and msg.From == Params.token, "Tokens must come from the configured token")
  local qty = tostring(amount.positive(msg.Tags.Quantity, "Quantity"))
  local action = msg.Tags["X-Action"]
  if action == "Deposit" then
    ledger.credit(Balances, msg.Sender, qty)
    guard.reply(msg, { Action = "Deposit-Notice", Quantity = qty, Balance = ledger.balance(Balances, msg.Sender) })
  elseif action == "Infer" then
    local tags = forwarded(msg)
    local req = inferRequest(tags, msg.Tags["X-Prompt"])
    req.locked = qty
    req.maxFee = qty
    if input.optional(tags, "Max-Fee") then
      req.maxFee = tostring(amount.positive(tags.Tags["Max-Fee"], "X-Max-Fee"))
      guard.check(amount.le(req.maxFee, qty), "X-Max-Fee is above the transferred Quantity " .. qty)
    end
    startTask(msg, req, msg.Sender, true)
  elseif action == "Challenge" then
    openChallenge(msg, forwarded(msg), msg.Sender, qty, true)
  elseif action == "Open-Channel" then
    openChannel(msg, forwarded(msg), msg.Sender, qty, false)
  elseif action == nil and msg.Tags["X-Slash-Task"] then
    -- Slash proceeds the registry sends for a task this escrow invalidated.
    guard.check(msg.Sender == Params.registry, "Slash proceeds must come from the registry")
    sendAll(challenges.proceeds(state(), msg.Tags["X-Slash-Task"], qty, now(msg)))
  else
    guard.fail("Unsupported X-Action " .. tostring(action) .. ": use Deposit, Infer, Challenge or Open-Channel")
  end
end)

-- The token's receipt for the escrow's own Transfers: nothing to do.
guard.handle("Debit-Notice", "Debit-Notice", function() end)

guard.handle("Withdraw", "Withdraw", function(msg)
  guard.check(Params.token ~= nil, "Token is not configured")
  local qty = tostring(amount.positive(msg.Tags.Quantity, "Quantity"))
  ledger.debit(Balances, msg.From, qty, "available balance")
  Send({ Target = Params.token, Action = "Transfer", Recipient = msg.From, Quantity = qty })
  msg.reply({ Action = "Withdraw-Notice", Quantity = qty, Balance = ledger.balance(Balances, msg.From) })
end)

local function taskResult(msg)
  local hash = input.sha256Hex(msg, "Receipt-Hash")
  return {
    inputTokens = input.integer(msg, "Input-Tokens", { min = 0, max = 2147483647 }),
    outputTokens = input.integer(msg, "Output-Tokens", { min = 0, max = 2147483647 }),
    receiptTx = input.id(msg, "Receipt-Tx"),
    receiptHash = hash,
    output = msg.Data or "",
  }
end

guard.handle("Task-Result", "Task-Result", function(msg)
  local id = input.required(msg, "Task-Id")
  sendAll(tasks.complete(state(), id, msg.From, taskResult(msg), now(msg)))
end)

guard.handle("Task-Failed", "Task-Failed", function(msg)
  local id = input.required(msg, "Task-Id")
  local reason = input.optional(msg, "Error", "no reason given")
  sendAll(tasks.fail(state(), id, msg.From, reason, now(msg)))
end)

guard.handle("Challenge", "Challenge", function(msg)
  local bond = tostring(amount.positive(msg.Tags.Bond, "Bond"))
  openChallenge(msg, msg, msg.From, bond, false)
end)

-- The accused worker's part of the committee's seed.
guard.handle("Dispute-Seed", "Dispute-Seed", function(msg)
  local id = input.required(msg, "Task-Id")
  local challengeId = input.required(msg, "Challenge-Id")
  local seed = input.sha256Hex(msg, "Seed")
  local out, reply = challenges.seed(state(), id, challengeId, msg.From, seed, now(msg))
  msg.reply(reply)
  sendAll(out)
end)

-- The challenger's secret: the committee is drawn.
guard.handle("Reveal-Seed", "Reveal-Seed", function(msg)
  local id = input.required(msg, "Task-Id")
  local challengeId = input.required(msg, "Challenge-Id")
  local secret = input.sha256Hex(msg, "Secret")
  local out, reply = challenges.reveal(state(), id, challengeId, msg.From, secret, now(msg))
  msg.reply(reply)
  sendAll(out)
end)

guard.handle("Referee-Verdict", "Referee-Verdict", function(msg)
  local id = input.required(msg, "Task-Id")
  local verdict = input.oneOf(msg, "Verdict", { "Valid", "Invalid" })
  local reportTx = input.id(msg, "Report-Tx")
  sendAll(challenges.vote(state(), id, msg.From, verdict, reportTx, now(msg)))
end)

-- The registry's answer to this escrow's Slash; the proceeds, if any, come
-- separately as a token Credit-Notice.
guard.handle("Slash-Notice", "Slash-Notice", function(msg)
  guard.check(Params.registry ~= nil and msg.From == Params.registry, "Only the registry may send Slash-Notice")
  local taken = tostring(amount.parse(msg.Tags.Quantity, "Quantity"))
  sendAll(challenges.slashNotice(state(), input.required(msg, "Task-Id"), taken, now(msg)))
end)

-- Upkeep has already settled every task whose window passed; Settle only
-- reports, and explains why a named task is not settled.
guard.handle("Settle", "Settle", function(msg)
  local id = input.optional(msg, "Task-Id")
  if id then tasks.checkSettle(state(), id, settledNow) end
  msg.reply({ Action = "Settle-Notice", Settled = tostring(count(settledNow)), ["Task-Id"] = id })
end)

guard.handle("Info", "Info", function(msg)
  local reply = paramTags()
  reply.Action = "Info-Response"
  reply.Liabilities = liabilities()
  reply.Bonds = challenges.bonds(state())
  reply.Treasury = ledger.balance(Balances, ao.id)
  reply["Channel-Funds"] = channels.locked(state())
  reply.Data = json.encode({
    token = Params.token,
    registry = Params.registry,
    challengeWindow = Params.challengeWindow,
    taskTimeout = Params.taskTimeout,
    maxAttempts = Params.maxAttempts,
    challengeBond = Params.challengeBond,
    refereeCount = Params.refereeCount,
    refereeFee = Params.refereeFee,
    refereeTimeout = Params.refereeTimeout,
    slashAmount = Params.slashAmount,
    challengerShare = Params.challengerShare,
    seedTimeout = Params.seedTimeout,
    revealTimeout = Params.revealTimeout,
    auditRate = Params.auditRate,
    channelRefundLock = Params.channelRefundLock,
    channelFunds = reply["Channel-Funds"],
    channels = count(Channels),
    defaultModel = Params.defaultModel,
    publishCache = Params.publishCache,
    tasks = TaskCounts,
    liabilities = reply.Liabilities,
    balances = amount.sum(Balances),
    locked = tasks.locked(state()),
    bonds = reply.Bonds,
    treasury = reply.Treasury,
    models = count(Models),
    workers = count(Workers),
  })
  msg.reply(reply)
end)

guard.handle("Balance", "Balance", function(msg)
  local who = msg.Tags.Recipient or msg.Tags.Target or msg.From
  local bal = ledger.balance(Balances, who)
  msg.reply({
    Action = "Balance-Response",
    Balance = bal,
    Locked = tasks.locked(state(), who),
    Bonded = challenges.bonds(state(), who),
    Account = who,
    Data = bal,
  })
end)

-- Lists leave prompts and outputs out to stay small; `Task` has them, since a
-- restarted worker rebuilds an assignment from it.
local function summary(task)
  local view = {}
  for k, v in pairs(task) do
    if k ~= "prompt" and k ~= "output" then view[k] = v end
  end
  return view
end

guard.handle("Task", "Task", function(msg)
  local task = tasks.get(state(), msg.Tags["Task-Id"])
  msg.reply({ Action = "Task-Response", Data = json.encode(task) })
end)

guard.handle("Tasks", "Tasks", function(msg)
  local limit = input.integer(msg, "Limit", { default = 100, min = 1, max = 1000 })
  local filter = { requester = msg.Tags.Requester, worker = msg.Tags.Worker, state = msg.Tags.State }
  local list = {}
  for i = #TaskOrder, 1, -1 do
    if #list >= limit then break end
    local task = Tasks[TaskOrder[i]]
    local match = true
    for field, want in pairs(filter) do
      if task[field] ~= want then match = false end
    end
    if match then list[#list + 1] = summary(task) end
  end
  msg.reply({ Action = "Tasks-Response", Data = json.encode(list) })
end)

guard.handle("Open-Channel", "Open-Channel", function(msg)
  local qty = tostring(amount.positive(msg.Tags.Quantity, "Quantity"))
  openChannel(msg, msg, msg.From, qty, true)
end)

-- The voucher is signed by the channel's owner and posted by whoever holds it
-- (the worker): on AO msg.From is the signer, so it names the owner.
guard.handle("Redeem-Voucher", "Redeem-Voucher", function(msg)
  local voucher = {
    channel = input.required(msg, "Channel"),
    cumulative = tostring(amount.parse(input.tag(msg, "Cumulative"), "Cumulative")),
    nonce = input.integer(msg, "Nonce", { min = 0 }),
    receiptsRoot = input.sha256Hex(msg, "Receipts-Root"),
  }
  sendAll(channels.redeem(state(), voucher, msg.From, now(msg)))
end)

guard.handle("Close-Channel", "Close-Channel", function(msg)
  local out, reply = channels.close(state(), input.required(msg, "Channel"), msg.From, now(msg), closedNow)
  if reply then guard.reply(msg, reply) end
  sendAll(out)
end)

guard.handle("Channel", "Channel", function(msg)
  local channel = channels.get(state(), input.tag(msg, "Channel"))
  msg.reply({ Action = "Channel-Response", Data = channels.encode(channel) })
end)

guard.handle("Channels", "Channels", function(msg)
  local filter = { owner = input.optional(msg, "Owner"), worker = input.optional(msg, "Worker") }
  if input.optional(msg, "State") then filter.state = input.oneOf(msg, "State", channels.STATES) end
  local limit = input.integer(msg, "Limit", { default = 1000, min = 1, max = 1000 })
  msg.reply({ Action = "Channels-Response", Data = channels.encodeList(channels.list(state(), filter, limit)) })
end)

-- The read of what patch@1.0 publishes, for networks without it (and escrows
-- with Publish-Cache off): the same string. Its answers are not recorded
-- (weavelm.mailbox).
guard.handle("Published", "Published", function(msg)
  local key = input.required(msg, "Key")
  local box = guard.check(Mailboxes[key], "Nothing was published under " .. key)
  msg.reply({ Action = "Published-Response", Key = key, Data = mailbox.encode(box) })
end)

-- Last of all handlers: a message that no guarded handler took (an unknown
-- Action) still ran upkeep, whose messages must be published. "continue"
-- lets aos's default handler run after it. Re-added last on every Eval, so
-- that handlers a new version adds stay before it.
Handlers.remove("publish")
Handlers.append("publish", function()
  return "continue"
end, publish)
