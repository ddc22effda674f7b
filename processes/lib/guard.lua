-- One wrapper for every handler: validation failures and bugs alike become an
-- `<Action>-Error` reply with an `Error` tag, and tokens that arrived with the
-- failed message go back to their sender. An uncaught error in aos drops the
-- whole outbox, so nothing may raise past this wrapper.
local guard = {}

--- The action a message stands for: a token Credit-Notice stands for the
--- `X-Action` it forwards (Deposit, Stake, Infer...).
function guard.action(msg)
  if msg.Action == "Credit-Notice" and msg.Tags["X-Action"] then return msg.Tags["X-Action"] end
  return msg.Action
end

--- Who a reply goes to: the token's Credit-Notice comes from the token process,
--- but its Sender is the party that paid.
function guard.requester(msg)
  if msg.Action == "Credit-Notice" then return msg.Sender end
  return msg.From
end

--- Replies to the party behind `msg`, keeping `X-Reference` correlation for both
--- direct messages and token-forwarded ones.
function guard.reply(msg, reply)
  if msg.Action == "Credit-Notice" then
    reply.Target = msg.Sender
    reply["X-Reference"] = reply["X-Reference"] or msg.Tags["X-Reference"]
    return Send(reply)
  end
  return msg.reply(reply)
end

--- Raises a user-facing error: the text alone, without a source position.
function guard.fail(text)
  error({ weavelm = true, text = text }, 0)
end

--- Raises unless `cond` holds.
function guard.check(cond, text)
  if not cond then guard.fail(text) end
  return cond
end

local function errorText(err)
  if type(err) == "table" and err.weavelm then return err.text end
  return "Internal error: " .. tostring(err)
end

--- Returns tokens carried by a Credit-Notice to the party that sent them.
function guard.refund(msg, reason)
  if msg.Action ~= "Credit-Notice" or not msg.Sender or not msg.Quantity then return end
  -- Never refund a refund: two processes rejecting each other's tokens would
  -- otherwise pass them back and forth forever.
  if msg.Tags["X-Refund-Reason"] then return end
  Send({
    Target = msg.From,
    Action = "Transfer",
    Recipient = msg.Sender,
    Quantity = msg.Quantity,
    ["X-Refund-Reason"] = reason,
    ["X-Reference"] = msg.Tags["X-Reference"],
  })
end

--- Runs after every guarded handler, whether it succeeded or failed, with the
--- message: a process sets it to finish its work on each message (the escrow
--- publishes its mailboxes there). Nil: nothing to finish.
guard.after = nil

-- A hook runs after the reply is in the outbox: a failure in it is printed,
-- never raised, since raising would drop that reply.
local function runHook(hook, ...)
  local ok, err = pcall(hook, ...)
  if not ok then print("guard hook failed: " .. tostring(err)) end
end

--- Wraps `fn(msg)` so any failure is answered and refunded instead of raised.
--- `onError(msg, text)`, optional, adds to the `<Action>-Error` reply (the
--- escrow answers an Apus-style request in Apus's form too).
function guard.wrap(fn, onError)
  return function(msg)
    local ok, err = pcall(fn, msg)
    if not ok then
      local text = errorText(err)
      guard.refund(msg, text)
      guard.reply(msg, { Action = (guard.action(msg) or "Unknown") .. "-Error", Error = text })
      if onError then runHook(onError, msg, text) end
    end
    if guard.after then runHook(guard.after, msg) end
  end
end

--- Registers a guarded handler for an Action (or a pattern function).
function guard.handle(name, pattern, fn, onError)
  Handlers.add(name, pattern, guard.wrap(fn, onError))
end

return guard
