"""Bounds in time, as pure functions: the maximum session length, and per-user minute allowances.

What counts against an allowance is each session's wall time from ``created_at`` to
its end (to now while live), within calendar periods in UTC: a day, an ISO week
(from Monday), or a month. A session that spans a period's end counts in each
period for the part it spent there, so usage is kept per UTC day (``day_split``)
and a period sums its days.

When a user's live sessions run together, the allowance runs out ``k`` times as
fast: with ``remaining`` seconds left and ``k`` sessions live, it is gone at
``now + remaining / k``, unless the period ends first and a fresh one begins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.journal import EndReason

_EPOCH_DAY: Final = date(1970, 1, 1)
_DAY: Final = timedelta(days=1)


class UsagePeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_of(period: UsagePeriod, moment: datetime) -> tuple[datetime, datetime]:
    """The calendar period (UTC) that holds ``moment``: its start, and the start of the next."""
    day = moment.astimezone(UTC).date()
    match period:
        case UsagePeriod.DAY:
            start = day
            end = day + _DAY
        case UsagePeriod.WEEK:
            start = day - timedelta(days=day.weekday())
            end = start + timedelta(days=7)
        case UsagePeriod.MONTH:
            start = day.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1)
    return _midnight(start), _midnight(end)


def day_index(moment: datetime) -> int:
    """Days since 1970-01-01 (UTC) of the day that holds ``moment``."""
    return (moment.astimezone(UTC).date() - _EPOCH_DAY).days


def day_start(index: int) -> datetime:
    return _midnight(_EPOCH_DAY + timedelta(days=index))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_split(start: datetime, end: datetime) -> list[tuple[int, int]]:
    """The wall time from ``start`` to ``end`` per UTC day, in milliseconds: ``[(day, ms), ...]``."""
    if end <= start:
        return []
    split = []
    moment = start
    while moment < end:
        index = day_index(moment)
        until = min(end, day_start(index + 1))
        split.append((index, (until - moment) // timedelta(milliseconds=1)))
        moment = until
    return split


def day_changes(
    before: tuple[datetime, datetime] | None, after: tuple[datetime, datetime] | None
) -> list[tuple[int, int]]:
    """What moving a session's counted span from ``before`` to ``after`` does to each day's total.

    An end recorded adds its span; a corrected end (an approximate one made exact)
    adds the difference, which may be negative.
    """
    totals: dict[int, int] = {}
    for span, sign in ((before, -1), (after, 1)):
        if span is not None:
            for day, ms in day_split(*span):
                totals[day] = totals.get(day, 0) + sign * ms
    return sorted((day, ms) for day, ms in totals.items() if ms)


@dataclass(frozen=True, slots=True)
class BoundsPolicy:
    """The bounds every session gets: a maximum length (0: none) and the default allowance (0: none)."""

    max_duration_seconds: int = 3600
    usage_limit_minutes: int = 0
    usage_period: UsagePeriod = UsagePeriod.MONTH

    def __post_init__(self) -> None:
        if self.max_duration_seconds < 0 or self.usage_limit_minutes < 0:
            raise ValueError("bounds cannot be negative (0 turns one off)")

    def allowance(self, user_minutes: int | None) -> Allowance | None:
        """The user's own allowance when they have one (0: no minutes at all), else the default (0: none)."""
        if user_minutes is not None:
            return Allowance(user_minutes * 60, self.usage_period)
        return Allowance.of(self.usage_limit_minutes, self.usage_period)

    def length_deadline(self, created_at: datetime) -> datetime | None:
        return length_deadline(created_at, self.max_duration_seconds)


@dataclass(frozen=True, slots=True)
class Allowance:
    """A user's minutes per period, and the period."""

    limit_seconds: int
    period: UsagePeriod

    @classmethod
    def of(cls, minutes: int | None, period: UsagePeriod) -> Allowance | None:
        """None for no allowance (0 or unset minutes)."""
        return cls(minutes * 60, period) if minutes else None


@dataclass(frozen=True, slots=True)
class Usage:
    """A user's usage in the period that holds ``now``.

    ``used`` is a timedelta, whole microseconds, not float seconds: the moment an
    allowance runs out then comes out the same whenever it is computed (see
    ``allowance_runs_out``), so every live session of a user gets one deadline.
    """

    period: UsagePeriod
    period_start: datetime
    period_end: datetime
    measured_at: datetime  # the ``now`` it was measured at: the run-out moment counts from it
    used: timedelta
    limit_seconds: int | None  # None: no allowance
    live_sessions: int

    @property
    def used_seconds(self) -> float:
        return self.used.total_seconds()

    @property
    def remaining(self) -> timedelta | None:
        if self.limit_seconds is None:
            return None
        return max(timedelta(0), timedelta(seconds=self.limit_seconds) - self.used)

    @property
    def remaining_seconds(self) -> float | None:
        remaining = self.remaining
        return None if remaining is None else remaining.total_seconds()

    @property
    def exhausted(self) -> bool:
        remaining = self.remaining
        return remaining is not None and remaining <= timedelta(0)


def usage(
    period: UsagePeriod,
    limit_seconds: int | None,
    ended_ms_by_day: Iterable[tuple[int, int]],
    live_created_at: Sequence[datetime],
    now: datetime,
) -> Usage:
    """The period's usage: the ended sessions' days within it, and the live ones' time within it so far."""
    start, end = period_of(period, now)
    first, last = day_index(start), day_index(end)
    ended = timedelta(milliseconds=sum(ms for day, ms in ended_ms_by_day if first <= day < last))
    live = sum((max(timedelta(0), now - max(created, start)) for created in live_created_at), timedelta(0))
    return Usage(period, start, end, now, ended + live, limit_seconds, len(live_created_at))


def allowance_runs_out(used: Usage) -> datetime | None:
    """When the allowance is used up if the live sessions keep running; None without one or with none live.

    A fresh period starts the count again: if the allowance would outlast the period,
    the live sessions run on into the next one, which holds the whole allowance.

    With n live sessions, ``measured_at + remaining / n`` is ``(limit - ended + sum of their
    starts) / n``: the moment cancels. In whole microseconds, rounded down (rounding half
    to even would depend on its parity), it cancels exactly, so two computations
    at different moments (a start and its tightening) agree.
    """
    if used.limit_seconds is None or used.live_sessions == 0:
        return None
    out = used.measured_at + (used.remaining or timedelta(0)) // used.live_sessions
    if out < used.period_end:
        return out
    return used.period_end + timedelta(seconds=used.limit_seconds / used.live_sessions)


def length_deadline(created_at: datetime, max_duration_seconds: int) -> datetime | None:
    """When a session reaches the maximum length; None when it is off (0)."""
    return created_at + timedelta(seconds=max_duration_seconds) if max_duration_seconds else None


def ends_at(*deadlines: datetime | None) -> datetime | None:
    """The sooner of the deadlines that apply; None if none does."""
    known = [d for d in deadlines if d is not None]
    return min(known) if known else None


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` to ``moment``, rounded up, at least 1 (a Retry-After)."""
    return max(1, math.ceil((moment - now).total_seconds()))


def bound_reached(
    length_deadline: datetime | None, allowance_used_up: bool, now: datetime
) -> EndReason | None:
    """Which bound ends a session at ``now``, if one does.

    The length cap is named when it has passed, even if the allowance ran out too by
    the pass that notices: the cap is the session's own, the allowance is shared.
    """
    if length_deadline is not None and length_deadline <= now:
        return EndReason.MAX_DURATION
    return EndReason.USAGE_EXHAUSTED if allowance_used_up else None
