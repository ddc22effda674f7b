-- qa-bot: a dApp process that answers questions with a model served through
-- weavelm. `Ask` (question in Data) is answered `Ask-Accepted` at once and
-- `Answer` (the model's output) once a worker's result reaches the escrow.
-- See README.md beside this file and docs/lua-client.md.
local json = require("json")
local WeaveLM = require("weavelm.client")

-- payPerCall: each question is paid by a token Transfer from this process's own
-- balance (Quantity = maxFee; the unused part comes back at settlement). Set
-- Pay-Per-Call=false to pay from an escrow deposit instead (see Deposit).
Config = Config or { escrow = nil, token = nil, model = nil, maxFee = "1000", maxTokens = "128", payPerCall = true }
-- Question id (the Ask message's id) -> { question, asker, status = pending | answered | failed, ... }.
Answers = Answers or {}

local function configTags()
  return {
    Escrow = Config.escrow,
    Token = Config.token,
    Model = Config.model,
    ["Max-Fee"] = Config.maxFee,
    ["Max-Tokens"] = Config.maxTokens,
    ["Pay-Per-Call"] = tostring(Config.payPerCall),
  }
end

Handlers.add("Configure", "Configure", function(msg)
  if msg.From ~= Owner then return msg.reply({ Action = "Configure-Error", Error = "Only the owner may configure" }) end
  local t = msg.Tags
  Config.escrow, Config.token, Config.model = t.Escrow or Config.escrow, t.Token or Config.token, t.Model or Config.model
  Config.maxFee, Config.maxTokens = t["Max-Fee"] or Config.maxFee, t["Max-Tokens"] or Config.maxTokens
  if t["Pay-Per-Call"] then Config.payPerCall = t["Pay-Per-Call"] == "true" end
  if Config.escrow then WeaveLM.configure({ Escrow = Config.escrow, Token = Config.token }) end
  local reply = configTags()
  reply.Action = "Configure-Notice"
  msg.reply(reply)
end)

-- Moves tokens this process holds into its escrow deposit, for Pay-Per-Call=false.
Handlers.add("Deposit", "Deposit", function(msg)
  if msg.From ~= Owner then return msg.reply({ Action = "Deposit-Error", Error = "Only the owner may deposit" }) end
  if not (Config.escrow and Config.token and msg.Tags.Quantity) then
    return msg.reply({ Action = "Deposit-Error", Error = "Configure Escrow and Token, and give a Quantity" })
  end
  WeaveLM.deposit(msg.Tags.Quantity)
  msg.reply({ Action = "Deposit-Sent", Quantity = msg.Tags.Quantity })
end)

Handlers.add("Ask", "Ask", function(msg)
  if not (Config.escrow and Config.model and (Config.token or not Config.payPerCall)) then
    return msg.reply({ Action = "Ask-Error", Error = "qa-bot is not configured" })
  end
  if type(msg.Data) ~= "string" or msg.Data == "" then
    return msg.reply({ Action = "Ask-Error", Error = "Ask needs a question in Data" })
  end
  local id = msg.Id
  local answer = { question = msg.Data, asker = msg.From, status = "pending" }
  Answers[id] = answer

  WeaveLM.infer({
    Model = Config.model,
    Prompt = "Question: " .. msg.Data .. "\nAnswer:",
    MaxTokens = Config.maxTokens,
    MaxFee = Config.maxFee,
    PayPerCall = Config.payPerCall,
  }, function(result)
    -- Runs in a later message (the escrow's reply); msg.reply still reaches the
    -- asker with its own X-Reference.
    answer.taskId = result.TaskId
    if result.ok then
      answer.status, answer.answer, answer.worker, answer.fee, answer.receiptTx =
        "answered", result.Output, result.Worker, result.Fee, result.ReceiptTx
      msg.reply({
        Action = "Answer",
        ["Question-Id"] = id,
        ["Task-Id"] = result.TaskId,
        Fee = result.Fee,
        ["Receipt-Tx"] = result.ReceiptTx,
        Data = result.Output,
      })
    else
      answer.status, answer.error = "failed", result.Error
      msg.reply({ Action = "Ask-Error", ["Question-Id"] = id, Error = result.Error })
    end
  end, function(call)
    answer.taskId, answer.worker = call.TaskId, call.Worker
  end)

  msg.reply({ Action = "Ask-Accepted", ["Question-Id"] = id })
end)

Handlers.add("Get-Answer", "Get-Answer", function(msg)
  local answer = Answers[msg.Tags["Question-Id"] or ""]
  if not answer then
    return msg.reply({ Action = "Get-Answer-Error", Error = "Unknown Question-Id " .. tostring(msg.Tags["Question-Id"]) })
  end
  msg.reply({ Action = "Get-Answer-Response", Data = json.encode(answer) })
end)

Handlers.add("Pending", "Pending", function(msg)
  msg.reply({ Action = "Pending-Response", Data = json.encode(WeaveLM.pending()) })
end)
