-- weavelm token: the AO token standard (aos token blueprint semantics) with
-- bint arithmetic and owner-only minting. Used as the devnet's currency; on
-- other networks the registry and escrow accept any configured token process.
local json = require("json")
local amount = require("weavelm.amount")
local guard = require("weavelm.guard")
local input = require("weavelm.input")
local ledger = require("weavelm.ledger")

Balances = Balances or {}
TotalSupply = TotalSupply or "0"
Name = Name or "weavelm Devnet Token"
Ticker = Ticker or "WLM"
Denomination = Denomination or 12
Logo = Logo or ""

local function forwardedTags(msg)
  local out = {}
  for name, value in pairs(msg.Tags) do
    if name:sub(1, 2) == "X-" then out[name] = value end
  end
  return out
end

guard.handle("Info", "Info", function(msg)
  msg.reply({
    Action = "Info-Response",
    Name = Name,
    Ticker = Ticker,
    Logo = Logo,
    Denomination = tostring(Denomination),
    ["Total-Supply"] = TotalSupply,
  })
end)

guard.handle("Total-Supply", "Total-Supply", function(msg)
  msg.reply({ Action = "Total-Supply", Data = TotalSupply, Ticker = Ticker })
end)

guard.handle("Balance", "Balance", function(msg)
  local who = msg.Tags.Recipient or msg.Tags.Target or msg.From
  local bal = ledger.balance(Balances, who)
  msg.reply({ Action = "Balance-Response", Balance = bal, Ticker = Ticker, Account = who, Data = bal })
end)

guard.handle("Balances", "Balances", function(msg)
  msg.reply({ Action = "Balances-Response", Data = json.encode(Balances) })
end)

guard.handle("Transfer", "Transfer", function(msg)
  local recipient = input.required(msg, "Recipient")
  local qty = amount.positive(msg.Tags.Quantity, "Quantity")
  ledger.move(Balances, msg.From, recipient, tostring(qty), "balance")

  if msg.Tags.Cast then return end
  local debit = forwardedTags(msg)
  debit.Action = "Debit-Notice"
  debit.Recipient = recipient
  debit.Quantity = tostring(qty)
  msg.reply(debit)

  local credit = forwardedTags(msg)
  credit.Target = recipient
  credit.Action = "Credit-Notice"
  credit.Sender = msg.From
  credit.Quantity = tostring(qty)
  Send(credit)
end)

guard.handle("Mint", "Mint", function(msg)
  guard.check(msg.From == Owner, "Only the owner may mint")
  local qty = amount.positive(msg.Tags.Quantity, "Quantity")
  local recipient = msg.Tags.Recipient or msg.From
  ledger.credit(Balances, recipient, tostring(qty))
  TotalSupply = amount.add(TotalSupply, tostring(qty))
  msg.reply({ Action = "Mint-Notice", Recipient = recipient, Quantity = tostring(qty) })
end)
