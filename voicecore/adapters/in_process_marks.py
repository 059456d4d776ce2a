"""The in-process store's short-lived marks: events seen (dedupe) and locks with a lease.

Each expires by its own deadline, as its Redis key would; ``sweep`` forgets the ones
past it. Like the store, every method runs to completion without awaiting.
"""

from __future__ import annotations


class Marks:
    def __init__(self) -> None:
        self._sightings: dict[str, int] = {}  # event id -> forgotten at (ms)
        self._locks: dict[str, tuple[str, int]] = {}  # name -> (owner, lease end ms)

    def first_sighting(self, event_id: str, *, now: int, ttl_ms: int) -> bool:
        if self._sightings.get(event_id, now) > now:
            return False
        self._sightings[event_id] = now + ttl_ms
        return True

    def acquire_lock(self, name: str, owner: str, *, now: int, lease_ms: int) -> bool:
        holder, end = self._locks.get(name, (owner, now))
        if holder != owner and end > now:
            return False
        self._locks[name] = (owner, now + lease_ms)
        return True

    def release_lock(self, name: str, owner: str, *, now: int) -> bool:
        holder, end = self._locks.get(name, ("", now))
        if holder != owner:
            return False
        del self._locks[name]
        return end > now

    def sweep(self, now: int) -> None:
        self._sightings = {e: end for e, end in self._sightings.items() if end > now}
        self._locks = {n: lock for n, lock in self._locks.items() if lock[1] > now}
