"""The Lua scripts of idempotency claims, event dedupe and locks: ``redis_lua``'s prelude runs first.

Each is one atomic step on the Redis server, given ARGV[1] = the key prefix and
ARGV[2] = now in milliseconds ("" for the server's clock), as every script is
(``redis_lua`` explains both, and builds ``SCRIPTS`` from these and its own).
"""

from __future__ import annotations

# KEYS: the claim. ARGV: 3 fingerprint, 4 holder, 5 ttl ms, 6 lease ms.
CLAIM_KEY = """
local now = now_ms()
local c = redis.call('HMGET', KEYS[1], 'fingerprint', 'holder', 'room', 'lease_until', 'expires')
if c[1] and tonumber(c[5]) > now then
  if c[3] == '' and tonumber(c[4]) > now then
    if c[1] ~= ARGV[3] then return {'mismatch'} end
    if c[2] == ARGV[4] then return {'claimed'} end
    return {'in_progress'}
  end
  if c[3] ~= '' and redis.call('EXISTS', session_key(c[3])) == 1 then
    if c[1] ~= ARGV[3] then return {'mismatch'} end
    return {'completed', c[3]}
  end
end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[3], 'holder', ARGV[4], 'room', '',
  'lease_until', now + tonumber(ARGV[6]), 'expires', now + tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'claimed'}
"""

# KEYS: the claim. ARGV: 3 holder, 4 room name or "" to release.
FINISH_CLAIM = """
local c = redis.call('HMGET', KEYS[1], 'holder', 'room', 'expires')
if c[1] ~= ARGV[3] or c[2] ~= '' or tonumber(c[3]) <= now_ms() then return 0 end
if ARGV[4] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'room', ARGV[4])
end
return 1
"""

# KEYS: the event. ARGV: 3 ttl ms.
FIRST_SIGHTING = """
local now = now_ms()
local forget_at = redis.call('GET', KEYS[1])
if forget_at and tonumber(forget_at) > now then return 0 end
redis.call('SET', KEYS[1], now + tonumber(ARGV[3]), 'PX', ARGV[3])
return 1
"""

# KEYS: the lock. ARGV: 3 owner, 4 lease ms.
ACQUIRE_LOCK = """
local now = now_ms()
local lock = redis.call('HMGET', KEYS[1], 'owner', 'until')
if lock[1] and lock[1] ~= ARGV[3] and tonumber(lock[2]) > now then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'until', now + tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the lock. ARGV: 3 owner. Compare-and-delete; 1 if the lease was still running.
RELEASE_LOCK = """
local lock = redis.call('HMGET', KEYS[1], 'owner', 'until')
if lock[1] ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(lock[2]) > now_ms() then return 1 end
return 0
"""
