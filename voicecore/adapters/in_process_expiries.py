"""When each of the in-process store's records expires, in a min-heap.

What has expired is found without a look at the rest, so the live-session count
stays exact at O(log n) a record. The heap holds every record's current expiry
and some superseded ones (a record changed since, or gone); the store checks each
room it is handed, and the heap is rebuilt from the records when the superseded
ones outnumber them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

_STALE_KEPT = 1024


class Expiries:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []  # (expiry ms, room name)

    def push(
        self, expires_ms: int, room_name: str, *, records: int, current: Callable[[], list[tuple[int, str]]]
    ) -> None:
        """Note a record's new expiry; ``current`` gives every record's, should the heap be rebuilt."""
        heapq.heappush(self._heap, (expires_ms, room_name))
        if len(self._heap) > 2 * records + _STALE_KEPT:
            self._heap = current()
            heapq.heapify(self._heap)

    def passed(self, now_ms: int) -> Iterator[str]:
        """The rooms whose noted expiry has passed, taken off the heap (each may have moved on since)."""
        while self._heap and self._heap[0][0] <= now_ms:
            yield heapq.heappop(self._heap)[1]
