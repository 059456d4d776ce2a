"""The Redis store's index marker: whether the server holds an index rebuilt from LiveKit.

A Redis server restarted empty, flushed, or restored from an older snapshot has
forgotten sessions that LiveKit still has, and the live-session cap would count
too few. So the index is marked when it is rebuilt (the ``index`` hash: the
rebuild's id as its epoch, and the admissions counted since), and the admission
script refuses to admit without the marker. Each replica remembers the newest
marker it has seen; a server whose count went back under the same epoch is older
than that replica knows it, and the marker is dropped so that the index is rebuilt.

Only the format and the scripts' parts live here; ``redis_lua`` puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lua, after redis_lua's prelude (P, the key prefix).
INDEX_PRELUDE = """
local INDEX = P .. 'index'
-- True if the store may not admit: it holds no rebuilt index, or one older than the caller
-- has seen (the same epoch, fewer admissions); the marker of an older one is dropped.
local function index_refuses(epoch_seen, admitted_seen)
  local mark = redis.call('HMGET', INDEX, 'epoch', 'admitted')
  if not mark[1] then return true end
  if mark[1] == epoch_seen and tonumber(mark[2]) < tonumber(admitted_seen) then
    redis.call('DEL', INDEX)
    return true
  end
  return false
end
-- Count one more admission; the epoch and the count, for the caller to remember.
local function index_admitted()
  local count = redis.call('HINCRBY', INDEX, 'admitted', 1)
  return {redis.call('HGET', INDEX, 'epoch'), count}
end
"""

# KEYS: the rebuild's note. ARGV: 3 lease ms. 1 if the store holds an index already.
BEGIN_REBUILD = """
redis.call('SET', KEYS[1], now_ms() + tonumber(ARGV[3]), 'PX', ARGV[3])
return redis.call('EXISTS', INDEX)
"""

# KEYS: the rebuild's note. ARGV: 3 the rebuild's id. 0 if the note is gone (the server lost
# its memory meanwhile) or its lease ran out: nothing is marked. A marker there keeps its epoch.
FINISH_REBUILD = """
local lapses = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if not lapses or tonumber(lapses) <= now_ms() then return 0 end
if redis.call('EXISTS', INDEX) == 0 then redis.call('HSET', INDEX, 'epoch', ARGV[3], 'admitted', 0) end
return 1
"""


@dataclass
class IndexSeen:
    """The newest index marker this replica has seen: its epoch, and the admissions counted in it."""

    epoch: str = ""
    admitted: int = 0

    def saw(self, epoch: str, admitted: int) -> None:
        if epoch == self.epoch:
            self.admitted = max(self.admitted, admitted)
        else:
            self.epoch, self.admitted = epoch, admitted
