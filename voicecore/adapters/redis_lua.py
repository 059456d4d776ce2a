"""The Lua scripts of RedisSessionStore: each operation that must be atomic is one script.

Every script gets ARGV[1] = the key prefix and ARGV[2] = now in milliseconds,
or "" for the Redis server's clock (TIME), the one clock all replicas share.
Keys that follow from stored data (a room's record, from a user's index) are
built here with the same escaping as ``redis_records.key_part``, which is why
the store needs a single Redis server (or a primary), not a Cluster.

Expiry is decided by comparing stored deadlines with now, so an injected clock
governs it; key TTLs only collect garbage, and always outlive those deadlines.
Lua numbers are doubles: milliseconds and microseconds since 1970 are exact.
"""

from __future__ import annotations

from voicecore.adapters.redis_index import BEGIN_REBUILD, FINISH_REBUILD, INDEX_PRELUDE
from voicecore.adapters.redis_lua_claims import (
    ACQUIRE_LOCK,
    CLAIM_KEY,
    FINISH_CLAIM,
    FIRST_SIGHTING,
    RELEASE_LOCK,
)

_PRELUDE = """
local P = ARGV[1]
local function part(s) return (string.gsub(string.gsub(s, '%%', '%%25'), ':', '%%3A')) end
local function now_ms()
  if ARGV[2] ~= '' then return tonumber(ARGV[2]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function session_key(room) return P .. 'session:' .. part(room) end
local DEADLINES = P .. 'deadlines'
-- Every live room name, scored by when its record expires (ms): the count of live sessions.
local EXPIRIES = P .. 'expiries'

local function user_key(user, what) return P .. 'user:' .. part(user) .. ':' .. what end
-- A record and its user's index live and expire together, and its expiry with them.
local function touch(record_key, ttl)
  local owner = redis.call('HMGET', record_key, 'user_id', 'room_name')
  redis.call('PEXPIRE', record_key, ttl)
  redis.call('PEXPIRE', user_key(owner[1], 'sessions'), ttl)
  redis.call('ZADD', EXPIRIES, now_ms() + tonumber(ttl), owner[2])
end
-- Forget a recorded session and its index entries; its fields, or nil if none was recorded.
local function forget(record_key, room, all_key)
  local fields = redis.call('HGETALL', record_key)
  if #fields == 0 then return nil end
  redis.call('SREM', user_key(redis.call('HGET', record_key, 'user_id'), 'sessions'), room)
  redis.call('SREM', all_key, room)
  redis.call('ZREM', DEADLINES, room)
  redis.call('ZREM', EXPIRIES, room)
  redis.call('DEL', record_key)
  return fields
end
-- KEYS as ADD_SESSION's; ``fields``: the record's JSON (redis_records.encode), decoded.
local function add_record(ttl, fields)
  local flat = {}
  for name, value in pairs(fields) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  redis.call('HSET', KEYS[1], unpack(flat))
  redis.call('SADD', KEYS[2], fields.room_name)
  redis.call('SADD', KEYS[3], fields.room_name)
  if fields.ends_at then redis.call('ZADD', DEADLINES, fields.ends_at, fields.room_name) end
  -- touch(), knowing the user's index key already; and the expiries passed are dropped.
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', EXPIRIES, '-inf', now)
  redis.call('ZADD', EXPIRIES, now + tonumber(ttl), fields.room_name)
end
-- The token bucket step on the bucket at ``key``: 0 if a token was taken, else
-- Retry-After seconds. The same integer arithmetic as token_bucket.take_token.
local function take_token(key, per_minute, now)
  local capacity = per_minute * 60000
  local state = redis.call('HMGET', key, 'units', 'last')
  local units = tonumber(state[1]) or capacity
  local last = tonumber(state[2]) or now
  units = math.min(capacity, units + math.max(0, now - last) * per_minute)
  last = math.max(last, now)
  local retry_after = 0
  if units >= 60000 then
    units = units - 60000
  else
    retry_after = math.max(1, math.ceil(math.ceil((60000 - units) / per_minute) / 1000))
  end
  redis.call('HSET', key, 'units', units, 'last', last)
  -- Left alone for a minute, a bucket is full: the same as no bucket.
  redis.call('PEXPIRE', key, 60000)
  return retry_after
end
-- Drop the user's index entries whose record has expired; return the live count.
local function live_count(sessions_key)
  for _, room in ipairs(redis.call('SMEMBERS', sessions_key)) do
    if redis.call('EXISTS', session_key(room)) == 0 then redis.call('SREM', sessions_key, room) end
  end
  return redis.call('SCARD', sessions_key)
end
-- The user's live sessions. The index is pruned of expired records only when its size
-- alone reaches ``limit``: a user far from the cap costs O(1), whatever the size of the index.
local function live_sessions(sessions_key, limit)
  local live = redis.call('SCARD', sessions_key)
  if live >= limit then live = live_count(sessions_key) end
  return live
end
"""

# KEYS: record, user's sessions, all sessions.
# ARGV: 3 ttl ms, 4 the record (JSON).
ADD_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
add_record(ARGV[3], cjson.decode(ARGV[4]))
return 1
"""

# KEYS: as ADD_SESSION, then the user's bucket. ARGV: 3 ttl ms, 4 max live (0: off), 5 per minute
# (0: off), 6 the record (JSON), 7 to 9 the index marker seen: epoch, when marked, admissions
# (redis_index). Returns {'admitted', epoch, marked, admissions}, {'unindexed'}, {'taken'},
# {'rate', retry after} or {'full', live}.
ADMIT_SESSION = """
if index_refuses(ARGV[7], ARGV[8], ARGV[9]) then return {'unindexed'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken'} end
local max_live, per_minute = tonumber(ARGV[4]), tonumber(ARGV[5])
local fields = cjson.decode(ARGV[6])
if per_minute > 0 then
  local retry_after = take_token(KEYS[4], per_minute, now_ms())
  if retry_after > 0 then return {'rate', retry_after} end
end
if max_live > 0 then
  local live = live_sessions(KEYS[2], max_live)
  if live >= max_live then return {'full', live} end
end
add_record(ARGV[3], fields)
local index = index_admitted()
return {'admitted', index[1], index[2], index[3]}
"""

# KEYS: an index of room names (a user's, or all). ARGV: 3 "all" for the index of
# all rooms. Names whose record has expired are dropped from the index on the way.
# Reading all of them also checks the expiries against the records found, and
# rebuilds them if they differ (a store written by a version that kept none).
SESSIONS_IN = """
local records, rooms = {}, {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HGETALL', session_key(room))
  if #fields == 0 then
    redis.call('SREM', KEYS[1], room)
  else
    table.insert(records, fields)
    table.insert(rooms, room)
  end
end
if ARGV[3] == 'all' then
  local now = now_ms()
  if redis.call('ZCOUNT', EXPIRIES, '(' .. now, '+inf') ~= #rooms then
    redis.call('DEL', EXPIRIES)
    for _, room in ipairs(rooms) do
      redis.call('ZADD', EXPIRIES, now + math.max(redis.call('PTTL', session_key(room)), 1), room)
    end
  end
end
return records
"""

# KEYS: the expiries. The number of live sessions: O(log n), however many there are.
COUNT_SESSIONS = """
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')
"""

# KEYS: record, all sessions. ARGV: 3 room name.
REMOVE_SESSION = """
return forget(KEYS[1], ARGV[3], KEYS[2]) or false
"""

# KEYS: all sessions. ARGV: 3... room names. Returns the removed records' fields, in order.
REMOVE_SESSIONS = """
local removed = {}
for i = 3, #ARGV do
  local fields = forget(session_key(ARGV[i]), ARGV[i], KEYS[1])
  if fields then table.insert(removed, fields) end
end
return removed
"""

# KEYS: record. ARGV: 3 ttl ms, 4 field, 5 time in microseconds.
NOTE_PARTICIPANT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local known = redis.call('HGET', KEYS[1], ARGV[4])
if not known or tonumber(ARGV[5]) > tonumber(known) then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
touch(KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: record. ARGV: 3 ttl ms, 4 the budget, 5 when it is sent (microseconds). 0 if spent.
COUNT_DISPATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if tonumber(redis.call('HGET', KEYS[1], 'agent_dispatches')) >= tonumber(ARGV[4]) then return 0 end
local count = redis.call('HINCRBY', KEYS[1], 'agent_dispatches', 1)
local known = redis.call('HGET', KEYS[1], 'redispatched_at')
if not known or tonumber(ARGV[5]) > tonumber(known) then
  redis.call('HSET', KEYS[1], 'redispatched_at', ARGV[5])
end
touch(KEYS[1], ARGV[3])
return count
"""

# ARGV: 3 "1" to tighten (keep the sooner of the old and new ends_at) or "0" to replace,
# then pairs of a room name and its ends_at in microseconds ("" for none).
# Returns the changed records (HGETALL's flat replies), as now stored.
SET_ENDS_AT = """
local tighten = ARGV[3] == '1'
local changed = {}
for i = 4, #ARGV, 2 do
  local room, ends = ARGV[i], ARGV[i + 1]
  local key = session_key(room)
  if redis.call('EXISTS', key) == 1 then
    local old = redis.call('HGET', key, 'ends_at')
    if ends == '' then
      if old and not tighten then
        redis.call('HDEL', key, 'ends_at')
        redis.call('ZREM', DEADLINES, room)
        table.insert(changed, redis.call('HGETALL', key))
      end
    elseif old ~= ends and (not tighten or not old or tonumber(ends) < tonumber(old)) then
      redis.call('HSET', key, 'ends_at', ends)
      redis.call('ZADD', DEADLINES, ends, room)
      table.insert(changed, redis.call('HGETALL', key))
    end
  end
end
return changed
"""

# ARGV: 3 now in microseconds, 4 at most this many. The records past their ends_at,
# soonest first; names whose record has expired are dropped from the index on the way.
DUE = """
local due = {}
local rooms = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, room in ipairs(rooms) do
  local fields = redis.call('HGETALL', session_key(room))
  if #fields == 0 then
    redis.call('ZREM', DEADLINES, room)
  else
    table.insert(due, fields)
  end
end
return due
"""

# Each script with the prelude, by the name RedisSessionStore calls it.
SCRIPTS: dict[str, str] = {
    name: _PRELUDE + INDEX_PRELUDE + body
    for name, body in {
        "ADD_SESSION": ADD_SESSION,
        "ADMIT_SESSION": ADMIT_SESSION,
        "SESSIONS_IN": SESSIONS_IN,
        "COUNT_SESSIONS": COUNT_SESSIONS,
        "REMOVE_SESSION": REMOVE_SESSION,
        "REMOVE_SESSIONS": REMOVE_SESSIONS,
        "NOTE_PARTICIPANT": NOTE_PARTICIPANT,
        "COUNT_DISPATCH": COUNT_DISPATCH,
        "SET_ENDS_AT": SET_ENDS_AT,
        "DUE": DUE,
        "CLAIM_KEY": CLAIM_KEY,
        "FINISH_CLAIM": FINISH_CLAIM,
        "FIRST_SIGHTING": FIRST_SIGHTING,
        "ACQUIRE_LOCK": ACQUIRE_LOCK,
        "RELEASE_LOCK": RELEASE_LOCK,
        "BEGIN_REBUILD": BEGIN_REBUILD,
        "FINISH_REBUILD": FINISH_REBUILD,
    }.items()
}
