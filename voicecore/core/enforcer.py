"""The server's bounds, enforced: sessions past their length cap or their user's allowance are ended.

One replica at a time runs a pass (a lock with a lease in the session store), at
start-up and every second. A pass asks the store for the sessions past their
``ends_at`` (an index by deadline, so a pass costs what is due, not what is live):

- past the length cap (``created_at`` + SESSION_MAX_DURATION_SECONDS): ended as
  ``max_duration``, all of them first;
- past the allowance's deadline: the user's usage is counted again first, since a
  deadline set while more of their sessions ran can only have come too soon. If
  the allowance is used up, every live session of the user is ended as
  ``usage_exhausted``; otherwise their deadlines move to what the allowance now gives.
  While the journal's database is down, a deadline already known is kept as it is.

Ending is what the owner's end does: the room's end lock, DeleteRoom (everyone in
it is disconnected with ROOM_DELETED), the store forgets it, the journal records
the reason. LiveKit has no room duration of its own (only empty and departure
timeouts), so this is voicecore's to enforce (docs/livekit.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.bounds import bound_reached
from voicecore.core.errors import JournalUnavailable
from voicecore.core.history import SessionEnd
from voicecore.core.journal import EndReason
from voicecore.core.log_context import LogContext
from voicecore.core.ports import RoomGateway
from voicecore.core.recorder import SessionRecorder
from voicecore.core.replica_work import END_LOCK_LEASE, end_lock, every, lock_if_free, logged_pass
from voicecore.core.room_deadlines import tell_rooms
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore
from voicecore.core.usage import UsageMeter

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "bounds"
PASS_SECONDS: Final = 1.0
DUE_PER_PASS: Final = 1000


class SessionBounds:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        recorder: SessionRecorder,
        meter: UsageMeter,
        *,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._recorder = recorder
        self._meter = meter
        self._clock = clock
        self._lease = lease

    async def run_once(self) -> list[tuple[str, EndReason]] | None:
        """One pass: the sessions ended, and why; None if another replica holds the lock.

        Raises GatewayError or StoreError.
        """
        async with lock_if_free(self._store, LOCK_NAME, lease=self._lease) as held:
            if not held:
                return None
            now = self._clock()
            ended: list[tuple[str, EndReason]] = []
            allowance_due: dict[str, SessionRecord] = {}  # one per user
            # Lengths first: a recount then shares what is left among the sessions that stay.
            for record in await self._store.due(now, limit=DUE_PER_PASS):
                length = self._meter.policy.length_deadline(record.created_at)
                if bound_reached(length, False, now) is EndReason.MAX_DURATION:
                    if await self._end(record, EndReason.MAX_DURATION, now):
                        ended.append((record.room_name, EndReason.MAX_DURATION))
                else:
                    allowance_due.setdefault(record.user_id, record)
            for record in allowance_due.values():
                ended += await self._recount(record, now)
            return ended

    async def _recount(self, due: SessionRecord, now: datetime) -> list[tuple[str, EndReason]]:
        """Count the user's usage again: end what a bound has reached, move the others' deadlines.

        A deadline set while more of the user's sessions ran can only have come too soon,
        so a session is cut for its allowance only once the count says it is used up.
        """
        try:
            used, live = await self._meter.usage(due.user_id, due.allowance_seconds)
        except JournalUnavailable:
            used, live = None, [due]  # the known deadline stands
        if used is not None and not used.exhausted:
            moved = await self._store.set_ends_at(self._meter.deadlines(used, live), tighten=False)
            await tell_rooms(self._gateway, [r for r in moved if r.ends_at is None or r.ends_at > now])
        used_up = used is None or used.exhausted
        ended: list[tuple[str, EndReason]] = []
        for record in live:
            reason = bound_reached(self._meter.policy.length_deadline(record.created_at), used_up, now)
            if reason is not None and await self._end(record, reason, now):
                ended.append((record.room_name, reason))
        return ended

    async def _end(self, record: SessionRecord, reason: EndReason, now: datetime) -> bool:
        """End the session as its owner's end would; False if another end has it, or it was gone."""
        room_name = record.room_name
        if not await self._store.acquire_lock(end_lock(room_name), uuid.uuid4().hex, lease=END_LOCK_LEASE):
            return False
        deleted = await self._gateway.delete_room(room_name)
        await self._store.remove_session(room_name)
        if not deleted:
            return False  # LiveKit closed it already: its webhook, or the repair, records how
        await self._recorder.ended(room_name, SessionEnd(now, reason))
        logger.info(
            "voice session ended by the server: %s",
            reason.value,
            extra=LogContext(user_id=record.user_id, room_name=room_name, operation=reason.value),
        )
        return True

    async def run_logged(self) -> list[tuple[str, EndReason]] | None:
        """One pass whose failure is logged, not raised: the next pass tries again."""
        return await logged_pass(self.run_once, logger=logger, what="bounds pass", operation="bounds")

    async def run_every(self, interval_seconds: float = PASS_SECONDS) -> None:
        """A pass every ``interval_seconds``, until cancelled (the first comes at start-up, run_logged)."""
        await every(interval_seconds, self.run_logged)
