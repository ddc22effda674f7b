-- luacheck configuration for the AO processes (aos 2.0.x runs Lua 5.3).
std = "lua53"
max_line_length = 140
-- A process keeps its state in globals, initialised at the top of its file (`Balances = Balances or {}`)
-- so that they survive re-Evals; those are the only globals a file may define.
allow_defined_top = true
-- What aos gives every process.
read_globals = {"ao", "Handlers", "Send", "Spawn", "Owner", "Name", "Colors", "Inbox", "ProcessId"}
