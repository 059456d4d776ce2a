"""Whether the in-process store holds an index rebuilt from LiveKit: its marker, kept apart.

A new store has none: it knows nothing of the rooms an earlier process made, so it
admits no session until the repair (or a create that finds it so) has rebuilt the
index from LiveKit. The same contract as the Redis store's ``index`` key, whose
server can lose its memory under running replicas; this one only ever starts empty.
"""

from __future__ import annotations


class IndexMarker:
    def __init__(self) -> None:
        self.indexed = False
        self._rebuilds: dict[str, int] = {}  # rebuild id -> when its note lapses (ms)

    def begin(self, rebuild_id: str, *, now_ms: int, lease_ms: int) -> bool:
        self._rebuilds = {r: until for r, until in self._rebuilds.items() if until > now_ms}
        self._rebuilds[rebuild_id] = now_ms + lease_ms
        return self.indexed

    def finish(self, rebuild_id: str, *, now_ms: int) -> bool:
        if self._rebuilds.pop(rebuild_id, 0) <= now_ms:
            return False
        self.indexed = True
        return True
