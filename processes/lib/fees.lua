-- Fee rules (docs/protocol.md, escrow "Tasks"): what a worker quotes for a task
-- and how a result's fee splits between worker and model owner. Pure: amount
-- strings in, amount strings out.
local amount = require("weavelm.amount")

local fees = {}

local BASIS_POINTS = 10000
-- Prices are per 1000 tokens.
local PRICE_UNIT = 1000

--- The most a task can cost with a worker: input tokens are unknown until the
--- worker tokenizes the prompt, so only the output is quoted, plus the owner's
--- share on it.
function fees.quote(priceOutput, maxTokens, ownerFeeBps)
  local work = amount.mulDivCeil(priceOutput, maxTokens, PRICE_UNIT)
  return amount.add(work, amount.mulDiv(work, ownerFeeBps, BASIS_POINTS))
end

--- The model owner's part of `total`, a sum that already includes it (the
--- owner's Fee-Bps on top of the worker's share), rounded down.
function fees.ownerShare(total, ownerFeeBps)
  return amount.mulDiv(total, ownerFeeBps, BASIS_POINTS + ownerFeeBps)
end

--- The fee for a result, as `{worker, owner, total}`. The worker's share is
--- rounded up and the owner's down; when both exceed `maxFee` they are scaled
--- down together so that the requester never pays more than `maxFee`.
function fees.split(prices, ownerFeeBps, inputTokens, outputTokens, maxFee)
  local units = amount.add(amount.mulDiv(prices.input, inputTokens, 1), amount.mulDiv(prices.output, outputTokens, 1))
  local worker = amount.mulDivCeil(units, 1, PRICE_UNIT)
  local owner = amount.mulDiv(worker, ownerFeeBps, BASIS_POINTS)
  if amount.lt(maxFee, amount.add(worker, owner)) then
    owner = fees.ownerShare(maxFee, ownerFeeBps)
    worker = amount.sub(maxFee, owner)
  end
  return { worker = worker, owner = owner, total = amount.add(worker, owner) }
end

return fees
