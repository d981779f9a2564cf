"""The Lua scripts of the Redis backend: one script = one atomic step (SPEC R7.11).

Every key a script touches shares the user's hash tag `{u:<id>}` (the per-IP window has its
own script), so the scripts also run on a Redis Cluster. Times are integer milliseconds; the
window rules are those of `state/windows.py`.

Data model (per user):
    money counter   hash  u = committed, f = in flight
    rolling window  hash  bucket index → count
    concurrency     string, requests in flight
    <tag>:res       hash  admission id → "amount|concurrency key|counter|counter…",
                          or a tombstone: D (settled/released), L (lease lapsed, released)
    <tag>:lease     zset  admission id → lease deadline (tombstones: when to forget them)
"""

from __future__ import annotations

__all__ = ["ADD", "ADMIT", "IP_WINDOW", "RELEASE", "SEED", "SETTLE", "STREAM_APPEND", "UNDO"]

TOMBSTONE_MS = 3_600_000

_COMMON = """
local TOMB = TOMBSTONE_MS
local function split(s)
  local out = {}
  local start = 1
  while true do
    local i = string.find(s, '|', start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
local function drop_flight(rec)
  local parts = split(rec)
  local amount = tonumber(parts[1])
  if parts[2] ~= '' then
    if redis.call('DECR', parts[2]) < 0 then redis.call('SET', parts[2], 0) end
  end
  for i = 3, #parts do redis.call('HINCRBY', parts[i], 'f', -amount) end
end
local function live(rec)
  return rec and rec ~= 'D' and rec ~= 'L'
end
""".replace("TOMBSTONE_MS", str(TOMBSTONE_MS))

_WINDOW = """
local function wsum(key, cur, n)
  local all = redis.call('HGETALL', key)
  local total = 0
  local items = {}
  for i = 1, #all, 2 do
    local idx = tonumber(all[i])
    local c = tonumber(all[i + 1])
    if idx <= cur - n then
      redis.call('HDEL', key, all[i])
    else
      total = total + c
      if c > 0 then items[#items + 1] = {idx, c} end
    end
  end
  table.sort(items, function(a, b) return a[1] < b[1] end)
  return total, items
end
local function room(items, total, limit, n, b, now)
  local need = total - limit + 1
  if need <= 0 then return 0 end
  local acc = 0
  for _, e in ipairs(items) do
    acc = acc + e[2]
    if acc >= need then return math.max((e[1] + n) * b - now, 0) end
  end
  return n * b
end
local function reset(items, n, b, now)
  if #items == 0 then return 0 end
  return math.max((items[1][1] + n) * b - now, 0)
end
"""

# KEYS: marker, res, lease, windows[nw], tokens[0|1], concurrency[0|1], holds[nh]
# ARGV: now, aid, amount, lease_ms, nw, has_tokens, has_conc, nh,
#       (limit, bucket_ms, n) per window, (limit, bucket_ms, n) tokens, conc limit,
#       (limit or '-', ttl_s) per hold
# → {'U'} | {'R', retry_ms, blocked index…} | {'M', hold index…} | {'O', used, reset_ms…}
ADMIT = (
    _COMMON
    + _WINDOW
    + """
local now = tonumber(ARGV[1])
local aid = ARGV[2]
local amount = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local nw, ht, hc, nh = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'U'} end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(expired) do
  local rec = redis.call('HGET', KEYS[2], id)
  if live(rec) then
    drop_flight(rec)
    redis.call('HSET', KEYS[2], id, 'L')
    redis.call('ZADD', KEYS[3], now + TOMB, id)
  else
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
local k, a = 4, 9
local wins = {}
local blocked = {}
local wait = 0
for i = 1, nw + ht do
  local limit, b, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local cur = math.floor(now / b)
  local total, items = wsum(KEYS[k], cur, n)
  wins[i] = {KEYS[k], cur, n, b, total, items, limit}
  if total >= limit then
    blocked[#blocked + 1] = i
    wait = math.max(wait, room(items, total, limit, n, b, now))
  end
  k, a = k + 1, a + 3
end
local conc_key = ''
if hc == 1 then
  conc_key = KEYS[k]
  if tonumber(redis.call('GET', conc_key) or '0') >= tonumber(ARGV[a]) then
    blocked[#blocked + 1] = nw + ht + 1
    wait = math.max(wait, 1000)
  end
  k, a = k + 1, a + 1
end
if #blocked > 0 then
  local out = {'R', math.ceil(wait)}
  for _, i in ipairs(blocked) do out[#out + 1] = i end
  return out
end
local hk, ha = k, a
local money = {}
for i = 1, nh do
  local limit = ARGV[a]
  if limit ~= '-' then
    local uf = redis.call('HMGET', KEYS[k], 'u', 'f')
    local used = tonumber(uf[1] or '0') + tonumber(uf[2] or '0')
    if used + amount > tonumber(limit) then money[#money + 1] = i end
  end
  k, a = k + 1, a + 2
end
if #money > 0 then
  local out = {'M'}
  for _, i in ipairs(money) do out[#out + 1] = i end
  return out
end
local out = {'O'}
for i = 1, nw + ht do
  local w = wins[i]
  if i <= nw then
    redis.call('HINCRBY', w[1], w[2], 1)
    redis.call('PEXPIRE', w[1], (w[3] + 1) * w[4])
    local items = w[6]
    if #items == 0 or items[#items][1] ~= w[2] then items[#items + 1] = {w[2], 1} end
    out[#out + 1] = w[5] + 1
  else
    out[#out + 1] = w[5]
  end
  out[#out + 1] = math.ceil(reset(w[6], w[3], w[4], now))
end
if conc_key ~= '' then redis.call('INCR', conc_key) end
local rec = {tostring(amount), conc_key}
for i = 1, nh do
  local key = KEYS[hk + i - 1]
  redis.call('HINCRBY', key, 'f', amount)
  local ttl = tonumber(ARGV[ha + 2 * (i - 1) + 1])
  if ttl > 0 and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
  rec[#rec + 1] = key
end
redis.call('HSET', KEYS[2], aid, table.concat(rec, '|'))
redis.call('ZADD', KEYS[3], now + lease_ms, aid)
return out
"""
)

# KEYS: res, lease, holds[nh], tokens[0|1]   ARGV: now, aid, actual, nh, has_tokens,
#       ttl per hold, (count, bucket_ms, n) for tokens          → 1 settled, 0 already
SETTLE = (
    _COMMON
    + """
local now, aid, actual = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local nh, ht = tonumber(ARGV[4]), tonumber(ARGV[5])
local rec = redis.call('HGET', KEYS[1], aid)
if rec == 'D' then return 0 end
if live(rec) then drop_flight(rec) end
for i = 1, nh do
  local key = KEYS[2 + i]
  redis.call('HINCRBY', key, 'u', actual)
  local ttl = tonumber(ARGV[5 + i])
  if ttl > 0 and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
end
if ht == 1 then
  local a = 6 + nh
  local count, b, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if count > 0 then
    local key = KEYS[3 + nh]
    redis.call('HINCRBY', key, math.floor(now / b), count)
    redis.call('PEXPIRE', key, (n + 1) * b)
  end
end
redis.call('HSET', KEYS[1], aid, 'D')
redis.call('ZADD', KEYS[2], now + TOMB, aid)
return 1
"""
)

# KEYS: res, lease   ARGV: now, aid   → 1 released, 0 already gone
RELEASE = (
    _COMMON
    + """
local now, aid = tonumber(ARGV[1]), ARGV[2]
local rec = redis.call('HGET', KEYS[1], aid)
if not rec or rec == 'D' then return 0 end
local was = live(rec)
if was then drop_flight(rec) end
redis.call('HSET', KEYS[1], aid, 'D')
redis.call('ZADD', KEYS[2], now + TOMB, aid)
if was then return 1 end
return 0
"""
)

# Undo an admission whose per-IP check failed: uncount its windows and drop its reservation.
# KEYS: res, lease, windows…   ARGV: now, aid, bucket index per window
UNDO = (
    _COMMON
    + """
local now, aid = tonumber(ARGV[1]), ARGV[2]
for i = 3, #KEYS do redis.call('HINCRBY', KEYS[i], ARGV[i], -1) end
local rec = redis.call('HGET', KEYS[1], aid)
if live(rec) then drop_flight(rec) end
redis.call('HSET', KEYS[1], aid, 'D')
redis.call('ZADD', KEYS[2], now + TOMB, aid)
return 1
"""
)

# The per-client-IP window (its own hash tag). KEYS: window
# ARGV: now, limit, bucket_ms, n, mode ('take' | 'undo')  → {0, used, reset_ms} | {1, retry_ms}
IP_WINDOW = (
    _WINDOW
    + """
local now, limit, b, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = math.floor(now / b)
if ARGV[5] == 'undo' then
  redis.call('HINCRBY', KEYS[1], cur, -1)
  return {0, 0, 0}
end
local total, items = wsum(KEYS[1], cur, n)
if total >= limit then return {1, math.ceil(room(items, total, limit, n, b, now))} end
redis.call('HINCRBY', KEYS[1], cur, 1)
redis.call('PEXPIRE', KEYS[1], (n + 1) * b)
if #items == 0 then items[1] = {cur, 1} end
return {0, total + 1, math.ceil(reset(items, n, b, now))}
"""
)

# KEYS: counter   ARGV: used, ttl_s   → 1 set, 0 known already
SEED = """
if redis.call('HSETNX', KEYS[1], 'u', ARGV[1]) == 0 then return 0 end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
"""

# KEYS: counter   ARGV: amount   → 1 changed, 0 unknown counter
ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'u', ARGV[1])
return 1
"""

# The shared usage journal's stream (R11.2; its own key, so its own script: a Redis Cluster
# runs it on the stream's node). KEYS[1] the stream. ARGV: group, consumer, n, n rows, then
# the entry ids to acknowledge → the new entry ids. The group is created on first use (and
# again if Redis came back empty); a row's entry is pending under this consumer from the
# moment it exists, so a sweeper can always find it.
STREAM_APPEND = """
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
local n = tonumber(ARGV[3])
local ids = {}
for i = 1, n do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'row', ARGV[3 + i])
end
if n > 0 then
  local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for i = 1, n do claim[#claim + 1] = ids[i] end
  claim[#claim + 1] = 'FORCE'
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
if #ARGV > 3 + n then
  local done = {}
  for i = 4 + n, #ARGV do done[#done + 1] = ARGV[i] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(done))
  redis.call('XDEL', KEYS[1], unpack(done))
end
return ids
"""
