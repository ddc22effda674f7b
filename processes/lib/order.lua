-- Deterministic iteration. Every CU must evaluate a message the same way, and
-- `pairs` visits keys in an order Lua does not define.
local order = {}

--- The keys of `t`, sorted.
function order.keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

return order
