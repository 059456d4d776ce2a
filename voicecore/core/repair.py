"""The repair: LiveKit is the truth, and the session index and the journal are mended from it.

One replica at a time runs a pass (a lock with a lease in the session store), at
start-up and every SESSION_RECONCILE_INTERVAL_SECONDS. A pass:

- indexes every voice session LiveKit has and the index lacks, and forgets every
  indexed one LiveKit no longer has (what a lost webhook or an emptied store left),
  then marks the store's index rebuilt: a store without one admits no session
  (core/index.py);
- records in the journal every voice session LiveKit has and the journal lacks (no
  session without a record: a replica killed between creating a room and recording it);
- ends every live journal record whose room LiveKit no longer has, as ``unobserved``,
  at the best bound known (no false live: its end was seen by nobody, or its write was
  lost with a replica).

Index entries younger than ``grace`` are left alone: their create may be in flight
(the entry is written before the room). A journal record is written after its room, so
it needs no grace. The journal's part waits for the next pass while its database is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.domain import SessionPolicy, utc_now
from voicecore.core.errors import JournalUnavailable
from voicecore.core.history import SessionEnd, unobserved_end
from voicecore.core.index import INDEX_GRACE, REPAIR_LEASE, REPAIR_LOCK, SessionIndex
from voicecore.core.journal import EndReason, JournalRecord
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import RoomMetadata
from voicecore.core.ports import RoomGateway
from voicecore.core.recorder import SessionRecorder
from voicecore.core.replica_work import every, lock_if_free, logged_pass
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

logger = logging.getLogger(__name__)

LOCK_NAME: Final = REPAIR_LOCK
_KNOWN_PER_QUERY: Final = 1000


@dataclass(frozen=True, slots=True)
class RepairReport:
    added: tuple[str, ...]  # to the index
    removed: tuple[str, ...]  # from the index
    recorded: tuple[str, ...] = ()  # new journal records
    ended: tuple[str, ...] = ()  # journal records ended as unobserved


class SessionRepair:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        recorder: SessionRecorder,
        policy: SessionPolicy,
        *,
        lease: timedelta = REPAIR_LEASE,
        grace: timedelta = INDEX_GRACE,
        clock: Callable[[], datetime] = utc_now,
        index: SessionIndex | None = None,
    ) -> None:
        """``index``: the replica's own, shared with its creates (built here if not given)."""
        self._store = store
        self._recorder = recorder
        self._policy = policy
        self._lease = lease
        self._clock = clock
        self._index = index or SessionIndex(gateway, store, clock, grace=grace, lease=lease)

    async def run_once(self) -> RepairReport | None:
        """One pass; None if another replica holds the lock. Raises GatewayError or StoreError."""
        async with lock_if_free(self._store, LOCK_NAME, lease=self._lease) as held:
            if not held:
                return None
            # The journal's live records are read before LiveKit's rooms: a record is written
            # only once its room exists, so every room of this snapshot is in the listing
            # below unless it is gone by then. (The index has no such order: its entry comes
            # before the room, hence its grace.)
            journal_live = await self._journal_live()
            index = await self._index.repair()
            indexed_records = {r.room_name: r for r in index.records}
            recorded, ended = await self._repair_journal(index.sessions, journal_live, indexed_records)
        report = RepairReport(index.added, index.removed, tuple(recorded), tuple(ended))
        if index.added or index.removed or recorded or ended:
            logger.info(
                "sessions repaired from LiveKit: index %d added, %d removed; journal %d recorded, %d ended",
                len(index.added),
                len(index.removed),
                len(recorded),
                len(ended),
                extra=LogContext(operation="reconcile", session_count=len(index.sessions)),
            )
        return report

    async def _journal_live(self) -> dict[str, JournalRecord] | None:
        """The journal's live records, or None (logged) while its database is down."""
        try:
            return {record.room_name: record for record in await self._recorder.journal.live()}
        except JournalUnavailable as exc:
            logger.warning(
                "the repair could not reach the session journal; the next pass tries again: %s",
                exc,
                extra=LogContext(operation="reconcile"),
            )
            return None

    async def _repair_journal(
        self,
        sessions: Mapping[str, RoomMetadata],
        live: Mapping[str, JournalRecord] | None,
        indexed: Mapping[str, SessionRecord],
    ) -> tuple[list[str], list[str]]:
        if live is None:
            return [], []
        try:
            known = await self._known(list(sessions))
            recorded = []
            for name, metadata in sessions.items():
                if name not in known and await self._recorder.started(metadata.journal_record(name)):
                    recorded.append(name)
        except JournalUnavailable:
            return [], []  # the ends below would only wait for the database too: next pass
        now = self._clock()
        ended = [name for name in live if name not in sessions]
        for name in ended:
            bound = unobserved_end(live[name], indexed.get(name), self._policy, now)
            await self._recorder.ended(name, SessionEnd(bound, EndReason.UNOBSERVED, approximate=True))
        return recorded, ended

    async def _known(self, names: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(names), _KNOWN_PER_QUERY):
            known |= await self._recorder.journal.known(names[start : start + _KNOWN_PER_QUERY])
        return known

    async def run_logged(self) -> RepairReport | None:
        """One pass whose failure is logged, not raised: the next pass tries again."""
        return await logged_pass(self.run_once, logger=logger, what="session repair", operation="reconcile")

    async def run_every(self, interval_seconds: float) -> None:
        """A pass every ``interval_seconds``, the first after one interval, until cancelled."""
        await every(interval_seconds, self.run_logged)
