-- Model records: what a Register-Model message must carry, who may change a
-- record and which names are free. Pure: the caller passes the state tables,
-- the sender and the time in, and sends whatever follows.
local guard = require("weavelm.guard")
local input = require("weavelm.input")

local models = {}

-- aos's json writes numbers with "%.14g": larger integers would come out in
-- exponent form and lose digits.
local MAX_INTEGER = 10000000000000

--- Reads a Register-Model message into a model record owned by `owner`.
function models.parse(msg, owner)
  local id = input.id(msg, "Model-Id")
  local sha256 = input.required(msg, "SHA-256")
  guard.check(#sha256 == 64 and sha256:match("^[0-9a-f]+$") ~= nil, "SHA-256 must be 64 lowercase hex characters")
  local name = input.required(msg, "Name")
  guard.check(#name <= 64 and name:match("^[A-Za-z0-9._-]+$") ~= nil, "Name must be 1-64 characters of A-Z a-z 0-9 . _ -")
  return {
    id = id,
    sha256 = sha256,
    name = name,
    format = input.oneOf(msg, "Format", { "GGUF" }),
    architecture = input.text(msg, "Architecture", 64),
    quantization = input.text(msg, "Quantization", 64),
    parameters = input.integer(msg, "Parameters", { min = 1, max = MAX_INTEGER }),
    contextLength = input.integer(msg, "Context-Length", { min = 1, max = MAX_INTEGER }),
    license = input.text(msg, "License", 128),
    ownerFee = input.integer(msg, "Owner-Fee", { min = 0, max = 10000, default = 0 }),
    owner = owner,
  }
end

--- Stores `record`, new or replacing its owner's earlier one. A Name belongs to
--- one model at a time; renaming frees the old Name. Returns the stored record.
function models.register(byId, idByName, record, now)
  local existing = byId[record.id]
  guard.check(existing == nil or existing.owner == record.owner, "Model-Id " .. record.id .. " is registered by another owner")
  local holder = idByName[record.name]
  guard.check(holder == nil or holder == record.id, "Name " .. record.name .. " is taken by another model")

  if existing then
    idByName[existing.name] = nil
    record.registeredAt = existing.registeredAt
  else
    record.registeredAt = now
  end
  record.updatedAt = now
  byId[record.id] = record
  idByName[record.name] = record.id
  return record
end

--- The model a Model-Id or a registered Name stands for, or nil.
function models.find(byId, idByName, key)
  if key == nil then return nil end
  return byId[key] or byId[idByName[key] or ""]
end

--- Every model, by Name: a fixed order, since `pairs` promises none.
function models.list(byId)
  local out = {}
  for _, m in pairs(byId) do
    out[#out + 1] = m
  end
  table.sort(out, function(a, b)
    return a.name < b.name
  end)
  return out
end

--- The fields the escrow mirrors (`Sync-Model`).
function models.syncRecord(m)
  return {
    id = m.id,
    sha256 = m.sha256,
    name = m.name,
    format = m.format,
    architecture = m.architecture,
    quantization = m.quantization,
    parameters = m.parameters,
    contextLength = m.contextLength,
    license = m.license,
    ownerFee = m.ownerFee,
    owner = m.owner,
  }
end

return models
