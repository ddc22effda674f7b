-- Token amounts are unsigned integer strings handled with bint, never Lua
-- numbers: 64-bit floats lose precision far below real token supplies.
local bint = require(".bint")(256)
local guard = require("weavelm.guard")

local amount = {}

-- Large enough for any real supply (1e38 base units), small enough that sums
-- of many amounts cannot overflow 256-bit arithmetic.
local MAX_DIGITS = 38

amount.zero = bint.zero()

--- Parses a non-negative integer string; fails with a message naming `field`.
function amount.parse(value, field)
  guard.check(type(value) == "string" and value ~= "", field .. " is required")
  guard.check(value:match("^%d+$") ~= nil, field .. " must be a non-negative integer string")
  guard.check(#value <= MAX_DIGITS, field .. " is too large")
  return bint(value)
end

--- Parses a strictly positive integer string.
function amount.positive(value, field)
  local n = amount.parse(value, field)
  guard.check(bint.ult(amount.zero, n), field .. " must be greater than 0")
  return n
end

function amount.of(value)
  if value == nil then return bint.zero() end
  return bint(value)
end

function amount.add(a, b)
  return tostring(bint(a) + bint(b))
end
function amount.sub(a, b)
  return tostring(bint(a) - bint(b))
end
function amount.lt(a, b)
  return bint.ult(bint(a), bint(b))
end
function amount.le(a, b)
  return bint.ule(bint(a), bint(b))
end
function amount.min(a, b)
  if amount.le(a, b) then return tostring(bint(a)) end
  return tostring(bint(b))
end
function amount.isZero(a)
  return bint(a) == bint.zero()
end

--- `a * num / den`, rounded down. Fees and shares use basis points this way.
function amount.mulDiv(a, num, den)
  return tostring(bint.udiv(bint(a) * bint(num), bint(den)))
end

--- `a * num / den`, rounded up: what a worker is owed is never rounded away.
function amount.mulDivCeil(a, num, den)
  local n = bint(a) * bint(num)
  local d = bint(den)
  local q = bint.udiv(n, d)
  if q * d ~= n then q = q + 1 end
  return tostring(q)
end

--- Sum of the string values of a table.
function amount.sum(t)
  local total = bint.zero()
  for _, v in pairs(t) do
    total = total + bint(v)
  end
  return tostring(total)
end

return amount
