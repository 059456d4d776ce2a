"""The in-process store's deadlines: each live session's ``ends_at``, soonest first, in a min-heap.

The heap holds (ends_at, room) entries, some superseded (a session ended, expired or
given another deadline since); a superseded entry is skipped when popped.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime

from voicecore.core.session_record import SessionRecord


class Deadlines:
    def __init__(self) -> None:
        self._ends: dict[str, datetime] = {}  # room -> ends_at, for those that have one
        self._heap: list[tuple[datetime, str]] = []

    def note(self, record: SessionRecord) -> None:
        if record.ends_at is None:
            self._ends.pop(record.room_name, None)
            return
        self._ends[record.room_name] = record.ends_at
        heapq.heappush(self._heap, (record.ends_at, record.room_name))

    def forget(self, room_name: str) -> None:
        self._ends.pop(room_name, None)

    def due(
        self, at: datetime, limit: int, lookup: Callable[[str], SessionRecord | None]
    ) -> list[SessionRecord]:
        """The records past their ends_at, soonest first; ``lookup`` gives a room's stored record."""
        found: list[SessionRecord] = []
        kept: list[tuple[datetime, str]] = []
        while self._heap and self._heap[0][0] <= at and len(found) < limit:
            ends_at, room_name = heapq.heappop(self._heap)
            record = lookup(room_name)
            if record is None or self._ends.get(room_name) != ends_at or record.ends_at != ends_at:
                continue  # ended, expired, or given another deadline since
            found.append(record)
            kept.append((ends_at, room_name))
        for entry in kept:  # still due until they end: a later pass sees them again
            heapq.heappush(self._heap, entry)
        return found
