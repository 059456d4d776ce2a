"""The Redis store's index marker: whether the server holds an index rebuilt from LiveKit.

A Redis server restarted empty, flushed, or restored from an older snapshot has
forgotten sessions that LiveKit still has, and the live-session cap would count
too few. So the index is marked when it is rebuilt (the ``index`` hash: the
rebuild's id as its epoch, when it was marked, and the admissions counted since),
and the admission script refuses to admit without the marker. Each replica
remembers the newest marker it has seen; a server whose marker is older than that
(marked earlier, or the same epoch with fewer admissions) is older than that
replica knows it, and the marker is dropped so that the index is rebuilt.

Only the format and the scripts' parts live here; ``redis_lua`` puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lua, after redis_lua's prelude (P, the key prefix).
INDEX_PRELUDE = """
local INDEX = P .. 'index'
-- True if the store may not admit: it holds no rebuilt index, or one older than the caller
-- has seen (marked before it, or the same epoch with fewer admissions); an older marker is dropped.
local function index_refuses(epoch_seen, marked_seen, admitted_seen)
  local mark = redis.call('HMGET', INDEX, 'epoch', 'admitted', 'marked')
  if not mark[1] then return true end
  local same = mark[1] == epoch_seen
  if (same and tonumber(mark[2]) < tonumber(admitted_seen))
    or (not same and tonumber(mark[3] or 0) < tonumber(marked_seen)) then
    redis.call('DEL', INDEX)
    return true
  end
  return false
end
-- Count one more admission; the epoch, when it was marked and the count, for the caller to remember.
local function index_admitted()
  local count = redis.call('HINCRBY', INDEX, 'admitted', 1)
  local mark = redis.call('HMGET', INDEX, 'epoch', 'marked')
  return {mark[1], mark[2] or '0', count}
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
if redis.call('EXISTS', INDEX) == 0 then
  redis.call('HSET', INDEX, 'epoch', ARGV[3], 'marked', now_ms(), 'admitted', 0)
end
return 1
"""


@dataclass
class IndexSeen:
    """The newest index marker this replica has seen: its epoch, when it was marked (ms), and the
    admissions counted in it."""

    epoch: str = ""
    marked: int = 0
    admitted: int = 0

    def saw(self, epoch: str, marked: int, admitted: int) -> None:
        if epoch == self.epoch:
            self.admitted = max(self.admitted, admitted)
        elif marked >= self.marked:  # the script admits under no marker older than this one
            self.epoch, self.marked, self.admitted = epoch, marked, admitted
