"""Lua scripts of the Redis backend.

Redis runs a script atomically (no other command interleaves), but does
**not** roll back a script that fails half-way. So every write script first
does everything that can fail (key type checks, head checks) and only then
writes; the write commands themselves cannot fail on keys of the right type.
An out-of-memory refusal comes at the first write command, before anything
is written.

Scripts are plain Lua 5.1 without ``#!lua`` flags so they run on Redis 6
and 7. They never decode JSON (no ``cjson``): version and snapshot JSON pass
through as opaque strings, so no number can lose precision on the way.

State keys arrive as groups of five, in :meth:`StateKeys.all` order:
``meta, v, vid, snap, tok``.
"""

from __future__ import annotations

__all__ = [
    "DELETE_BEFORE",
    "DELETE_STATE",
    "HISTORY",
    "READ_STATE",
    "REPLACE_VERSION",
    "STORE_CHECKPOINT",
    "TOKENS_KEPT",
    "VERSION_BY_ID",
    "WRITE_BATCH",
    "WRITE_STRIDE",
]

TOKENS_KEPT = 32
"""Recent write tokens kept per state for de-duplicating retried writes."""

WRITE_STRIDE = 6
"""ARGV slots per write item in :data:`WRITE_BATCH`."""

# KEYS: [index] (only when ARGV[2] == '1'), then 5 keys per state.
# ARGV: 1 nstates, 2 has_index, 3 ttl_ms (0: none), 4 token ('' none),
#       5 .. 4+nstates raw state ids (index members; '' when no index),
#       then per write (stride 6):
#         'v', state#, number, version id, version JSON, checkpoint JSON or ''
#         's', state#, expected version or '', state JSON, '', ''
#         'n', state#, snapshot id, snapshot JSON, '', ''
# Returns {'ok', created flags '0'/'1' per state}
#      or {'conflict', write index, stored head per state ('' = absent)}
#      or {'corrupt', key, reason}.
WRITE_BATCH = f"""
local nstates = tonumber(ARGV[1])
local has_index = ARGV[2] == '1'
local ttl = tonumber(ARGV[3])
local token = ARGV[4]
local kbase = 0
if has_index then kbase = 1 end
local wbase = 4 + nstates
local nwrites = (#ARGV - wbase) / {WRITE_STRIDE}
local ZCHUNK = 500
local kinds = {{'hash', 'zset', 'zset', 'hash', 'zset'}}

local function key(s, j) return KEYS[kbase + (s - 1) * 5 + j] end

-- 1. Everything that can fail, before any write.
if has_index then
  local t = redis.call('TYPE', KEYS[1])['ok']
  if t ~= 'none' and t ~= 'zset' then return {{'corrupt', KEYS[1], 'is a ' .. t}} end
end
local stored = {{}}
for s = 1, nstates do
  for j = 1, 5 do
    local t = redis.call('TYPE', key(s, j))['ok']
    if t ~= 'none' and t ~= kinds[j] then
      return {{'corrupt', key(s, j), 'is a ' .. t .. ', expected a ' .. kinds[j]}}
    end
  end
  local raw = redis.call('HGET', key(s, 1), 'head')
  stored[s] = false
  if raw then
    stored[s] = tonumber(raw)
    if stored[s] == nil then return {{'corrupt', key(s, 1), 'head is not a number'}} end
  elseif redis.call('EXISTS', key(s, 1)) == 1 then
    return {{'corrupt', key(s, 1), 'has no head field'}}
  end
end

local function conflict(w)
  local out = {{'conflict', tostring(w)}}
  for s = 1, nstates do
    if stored[s] == false then out[#out + 1] = '' else out[#out + 1] = tostring(stored[s]) end
  end
  return out
end

-- Mirrors HeadTracker.check (base.py); Python re-runs HeadTracker on a
-- conflict to raise the exact error.
local heads = {{}}
for s = 1, nstates do heads[s] = stored[s] end
for w = 0, nwrites - 1 do
  local a = wbase + w * {WRITE_STRIDE}
  local kind = ARGV[a + 1]
  local s = tonumber(ARGV[a + 2])
  local head = heads[s]
  if kind == 'v' then
    local number = tonumber(ARGV[a + 3])
    local opens_pruned = head == false and ARGV[a + 6] ~= ''
    if number ~= (head or 0) + 1 and not opens_pruned then return conflict(w) end
    heads[s] = number
  elseif kind == 's' then
    if ARGV[a + 3] ~= '' and (head or 0) ~= tonumber(ARGV[a + 3]) then return conflict(w) end
    heads[s] = head or 0
  elseif head == false then
    return conflict(w)
  end
end

-- 2. All checks passed: write. Versions are gathered per state and sent
-- with one variadic ZADD per key (chunks of ZCHUNK), and the meta hash gets
-- one HSET per state with its final fields: a group commit of n versions
-- costs a handful of commands, not 3n (whose intermediate heads were
-- overwritten within this same atomic script anyway).
local cur = {{}}
local created = {{}}
local metas = {{}}
local vs, ids = {{}}, {{}}
for s = 1, nstates do
  cur[s] = stored[s]
  created[s] = '0'
  metas[s] = {{}}
  vs[s], ids[s] = {{}}, {{}}
end
for w = 0, nwrites - 1 do
  local a = wbase + w * {WRITE_STRIDE}
  local kind = ARGV[a + 1]
  local s = tonumber(ARGV[a + 2])
  local m = metas[s]
  if cur[s] == false then
    m.head, m.cpv, m.cp = 0, 0, '{{}}'
    cur[s] = 0
    created[s] = '1'
  end
  if kind == 'v' then
    local v, i = vs[s], ids[s]
    v[#v + 1] = ARGV[a + 3]
    v[#v + 1] = ARGV[a + 5]
    i[#i + 1] = ARGV[a + 3]
    i[#i + 1] = ARGV[a + 4]
    m.head = ARGV[a + 3]
    if ARGV[a + 6] ~= '' then m.cpv, m.cp = ARGV[a + 3], ARGV[a + 6] end
    cur[s] = tonumber(ARGV[a + 3])
  elseif kind == 's' then
    m.cpv, m.cp = cur[s], ARGV[a + 4]
    -- At head 0 the state is also the origin (the state at version 0),
    -- which later checkpoints never replace. Versions never touch it.
    if cur[s] == 0 then m.origin = ARGV[a + 4] end
  else
    redis.call('HSET', key(s, 4), ARGV[a + 3], ARGV[a + 4])
  end
end
local function zadd_all(k, flat)
  for first = 1, #flat, 2 * ZCHUNK do
    redis.call('ZADD', k, unpack(flat, first, math.min(first + 2 * ZCHUNK - 1, #flat)))
  end
end
for s = 1, nstates do
  zadd_all(key(s, 2), vs[s])
  zadd_all(key(s, 3), ids[s])
  local m, fields = metas[s], {{}}
  for _, f in ipairs({{'head', 'cpv', 'cp', 'origin'}}) do
    if m[f] ~= nil then
      fields[#fields + 1] = f
      fields[#fields + 1] = m[f]
    end
  end
  if #fields > 0 then redis.call('HSET', key(s, 1), unpack(fields)) end
end
for s = 1, nstates do
  if has_index then redis.call('ZADD', KEYS[1], 0, ARGV[4 + s]) end
  if token ~= '' then
    -- Server time orders the tokens: client clocks may disagree. (TIME
    -- before writes is fine: scripts replicate their effects, Redis >= 5.)
    local t = redis.call('TIME')
    redis.call('ZADD', key(s, 5), t[1] * 1000 + math.floor(t[2] / 1000), token)
    redis.call('ZREMRANGEBYRANK', key(s, 5), 0, -{TOKENS_KEPT + 1})
  end
  if ttl > 0 then
    for j = 1, 5 do redis.call('PEXPIRE', key(s, j), ttl) end
  end
end
local out = {{'ok'}}
for s = 1, nstates do out[#out + 1] = created[s] end
return out
"""

# KEYS: meta, v. Returns nil (absent) or {cpv, checkpoint JSON, version JSON...}
# with every version after the checkpoint: one atomic read for get_state.
READ_STATE = """
local cp = redis.call('HMGET', KEYS[1], 'cpv', 'cp')
if not cp[1] then return false end
local out = {cp[1], cp[2]}
local vs = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. cp[1], '+inf')
for i = 1, #vs do out[#out + 1] = vs[i] end
return out
"""

# KEYS: meta, v. ARGV: max score ('+inf' or '(n'), limit.
# Returns nil (state absent) or version JSONs, newest first.
HISTORY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'LIMIT', 0, ARGV[2])
"""

# KEYS: v, vid. ARGV: version id. Returns the version JSON or nil.
VERSION_BY_ID = """
local n = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not n then return false end
local m = redis.call('ZRANGEBYSCORE', KEYS[1], n, n)
return m[1] or false
"""

# KEYS: [index], meta, v, vid, snap, tok. ARGV: has_index, raw state id.
# Returns 1 if deleted, 0 if the state did not exist.
DELETE_STATE = """
local k = 0
if ARGV[1] == '1' then k = 1 end
if redis.call('EXISTS', KEYS[k + 1]) == 0 then return 0 end
redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5])
if k == 1 then redis.call('ZREM', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS: meta, v, vid, snap, tok. ARGV: number, version id, version JSON, ttl_ms.
# Returns 1, or 0 if the state is gone.
REPLACE_VERSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
if tonumber(ARGV[4]) > 0 then
  for j = 1, 5 do redis.call('PEXPIRE', KEYS[j], ARGV[4]) end
end
return 1
"""

# KEYS: meta, v, vid, snap, tok. ARGV: checkpoint version, state JSON, ttl_ms.
STORE_CHECKPOINT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cpv', ARGV[1], 'cp', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  for j = 1, 5 do redis.call('PEXPIRE', KEYS[j], ARGV[3]) end
end
return 1
"""

# KEYS: v, vid. ARGV: number (exclusive bound), chunk size.
# Deletes up to chunk of the oldest versions numbered < number, in one atomic
# step (the version and its id go together). Returns how many it deleted.
DELETE_BEFORE = """
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1],
                     'WITHSCORES', 'LIMIT', 0, ARGV[2])
if #m == 0 then return 0 end
local last = m[#m]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', last)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', last)
return #m / 2
"""
