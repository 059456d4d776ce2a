"""The use cases of a user's history: a page of their sessions, one record, and erasing what has ended.

Pages are newest first and keyed, not offset: a cursor names the last item seen
(its ``created_at`` and room), so a page deep in a long history costs what the first
one does. A cursor is opaque to clients and bound to the user it was given to: it
carries an HMAC over the user id and its position, so a tampered cursor, or another
user's, is ``InvalidHistoryCursor`` and reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from voicecore.core.domain import User
from voicecore.core.errors import InvalidHistoryCursor, NotSessionOwner, SessionNotFound
from voicecore.core.journal import EndReason, HistoryQuery, JournalRecord, SessionJournal
from voicecore.core.log_context import LogContext
from voicecore.core.session_record import from_microseconds, require_aware, to_microseconds

logger = logging.getLogger(__name__)

MAX_PAGE: Final = 100
DEFAULT_PAGE: Final = 20
_MAC_BYTES: Final = 16


@dataclass(frozen=True, slots=True)
class HistoryPage:
    sessions: list[JournalRecord]
    next_cursor: str | None  # None on the last page
    as_of: datetime  # the moment live sessions' durations are counted to


class HistoryCursors:
    """Cursors signed with a key only the service knows (derived from its LiveKit API secret)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    def after(self, user_id: str, record: JournalRecord) -> str:
        position = json.dumps([to_microseconds(record.created_at), record.room_name], separators=(",", ":"))
        payload = _b64(position.encode())
        return f"{payload}.{_b64(self._mac(user_id, payload))}"

    def position(self, user_id: str, cursor: str) -> tuple[datetime, str]:
        """The (created_at, room_name) a cursor given to ``user_id`` names; else InvalidHistoryCursor."""
        try:
            payload, mac = cursor.split(".")
            if not hmac.compare_digest(_unb64(mac), self._mac(user_id, payload)):
                raise InvalidHistoryCursor
            created, room_name = json.loads(_unb64(payload))
            if not isinstance(created, int) or not isinstance(room_name, str):
                raise InvalidHistoryCursor
            return from_microseconds(created), room_name
        except (ValueError, TypeError, OverflowError, binascii.Error):
            raise InvalidHistoryCursor from None

    def _mac(self, user_id: str, payload: str) -> bytes:
        message = user_id.encode("utf-8", "surrogatepass") + b"\x00" + payload.encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionHistory:
    """Every method may also raise ``JournalUnavailable`` (the journal's database failed)."""

    def __init__(
        self, journal: SessionJournal, cursors: HistoryCursors, clock: Callable[[], datetime]
    ) -> None:
        self._journal = journal
        self._cursors = cursors
        self._clock = clock

    async def page(
        self,
        user: User,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        agent_type: str | None = None,
        end_reason: EndReason | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> HistoryPage:
        """``user``'s sessions, live and ended, newest first, ``limit`` (1 to 100) at a time.

        ``cursor`` is the ``next_cursor`` of the page before; filters are on the agent
        type, the end reason, and ``created_at`` (``since`` inclusive, ``until``
        exclusive). Raises ``InvalidHistoryCursor`` and ValueError (a limit out of range).
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_PAGE}")
        query = HistoryQuery(
            user_id=user.id,
            limit=limit + 1,  # one more says whether another page follows
            after=None if cursor is None else self._cursors.position(user.id, cursor),
            agent_type=agent_type,
            end_reason=end_reason,
            since=None if since is None else require_aware(since),
            until=None if until is None else require_aware(until),
        )
        found = await self._journal.history(query)
        sessions, more = found[:limit], len(found) > limit
        next_cursor = self._cursors.after(user.id, sessions[-1]) if more else None
        logger.info(
            "voice session history read", extra=LogContext(user_id=user.id, session_count=len(sessions))
        )
        return HistoryPage(sessions, next_cursor, self._clock())

    async def record(self, user: User, room_name: str) -> JournalRecord:
        """One of ``user``'s sessions, live or ended: how a client learns why it ended.

        Raises ``SessionNotFound`` (no record) or ``NotSessionOwner`` (someone else's).
        """
        record = await self._journal.get(room_name)
        if record is None:
            raise SessionNotFound(room_name)
        if record.user_id != user.id:
            logger.warning(
                "voice session record refused: not the owner",
                extra=LogContext(user_id=user.id, room_name=room_name),
            )
            raise NotSessionOwner(room_name, user.id)
        return record

    async def erase(self, user: User) -> int:
        """Erase ``user``'s ended records; live sessions are untouched and recorded when they end."""
        erased = await self._journal.erase_ended(user.id)
        logger.info("voice session history erased", extra=LogContext(user_id=user.id, session_count=erased))
        return erased
