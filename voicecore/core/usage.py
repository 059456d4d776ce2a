"""A user's usage, read where it is kept: ended sessions' minutes in the journal, live ones in the store.

The arithmetic is core/bounds.py's; this module only gathers its inputs, in one
round trip to each (concurrently), and turns a used-up allowance into the error a
start answers with.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from datetime import datetime

from voicecore.core.bounds import (
    BoundsPolicy,
    Usage,
    allowance_runs_out,
    day_index,
    ends_at,
    period_of,
    seconds_until,
    usage,
)
from voicecore.core.domain import User
from voicecore.core.errors import UsageExhausted
from voicecore.core.journal import SessionJournal
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore


class UsageMeter:
    def __init__(
        self,
        journal: SessionJournal,
        store: SessionStore,
        policy: BoundsPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._journal = journal
        self._store = store
        self._policy = policy
        self._clock = clock

    @property
    def policy(self) -> BoundsPolicy:
        return self._policy

    def limit_seconds(self, user: User) -> int | None:
        allowance = self._policy.allowance(user.usage_limit_minutes)
        return None if allowance is None else allowance.limit_seconds

    async def read(self, user_id: str) -> tuple[list[tuple[int, int]], list[SessionRecord]]:
        """The period's ended usage per day (the journal) and the live sessions (the store), together.

        Raises JournalUnavailable: a start does not guess a user's usage.
        """
        start, end = period_of(self._policy.usage_period, self._clock())
        days, live = await asyncio.gather(
            self._journal.usage_days(user_id, day_index(start), day_index(end)),
            self._store.user_sessions(user_id),
        )
        return days, live

    def usage_of(
        self,
        days: Sequence[tuple[int, int]],
        live: Sequence[datetime],
        limit_seconds: int | None,
    ) -> Usage:
        """The usage of the period that holds now, with these sessions live (their ``created_at``)."""
        return usage(self._policy.usage_period, limit_seconds, days, live, self._clock())

    async def usage(self, user_id: str, limit_seconds: int | None) -> tuple[Usage, list[SessionRecord]]:
        """The user's usage in the current period, and their live sessions (raises JournalUnavailable)."""
        days, live = await self.read(user_id)
        return self.usage_of(days, [record.created_at for record in live], limit_seconds), live

    def refuse_if_used_up(self, used: Usage) -> None:
        """UsageExhausted (402) when no allowance is left for the period."""
        if used.exhausted and used.limit_seconds is not None:
            raise UsageExhausted(
                used_minutes=math.floor(used.used_seconds / 60),
                limit_minutes=used.limit_seconds // 60,
                resets_at=used.period_end,
                retry_after_seconds=seconds_until(used.period_end, self._clock()),
            )

    def deadline(self, used: Usage, created_at: datetime) -> datetime | None:
        """When a session created at ``created_at`` is ended: the length cap, or the allowance running out."""
        return ends_at(self._policy.length_deadline(created_at), allowance_runs_out(used))

    def deadlines(self, used: Usage, live: Sequence[SessionRecord]) -> dict[str, datetime | None]:
        """Each live session's deadline: its own cap, or the one moment the shared allowance runs out."""
        out = allowance_runs_out(used)
        return {r.room_name: ends_at(self._policy.length_deadline(r.created_at), out) for r in live}
