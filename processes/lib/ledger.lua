-- Balance tables keyed by address, values as integer strings. Pure: callers
-- pass the table in, so the rules can be exercised without a process.
local amount = require("weavelm.amount")
local guard = require("weavelm.guard")

local ledger = {}

function ledger.balance(balances, who)
  return balances[who] or "0"
end

function ledger.credit(balances, who, qty)
  balances[who] = amount.add(ledger.balance(balances, who), qty)
end

--- Debits `qty`, failing with `what` named when the balance is short.
function ledger.debit(balances, who, qty, what)
  local have = ledger.balance(balances, who)
  guard.check(amount.le(qty, have), "Insufficient " .. (what or "balance") .. ": have " .. have .. ", need " .. tostring(qty))
  local left = amount.sub(have, qty)
  if amount.isZero(left) then
    balances[who] = nil
  else
    balances[who] = left
  end
end

function ledger.move(balances, from, to, qty, what)
  ledger.debit(balances, from, qty, what)
  ledger.credit(balances, to, qty)
end

return ledger
