"""What each answer of the app's webhook endpoint means, and when an event is tried again: pure functions.

The wire is the Standard Webhooks specification's. An event is tried at most
``len(schedule)`` times; try ``n`` starts ``schedule[n-1]`` seconds after the
previous one failed (the first entry is the first try, right after the commit):

- a 2xx answer delivers the event;
- 410 Gone disables the endpoint: the event is not charged a try and waits,
  with every other, until an operator enables the endpoint again;
- 429 and 5xx wait at least what their ``Retry-After`` asks (seconds or an HTTP
  date), and never less than the schedule's next delay;
- every other answer (3xx: redirects are never followed, other 4xx) and every
  failure to get one (a timeout, a refused connection) waits the schedule's delay;
- a failure on the last try leaves the event dead (``webhooks replay`` sends it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Final

# The Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE: Final = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# A Retry-After further away than this is taken as this: a receiver cannot park an event for ever.
RETRY_AFTER_CEILING: Final = timedelta(days=1)
GONE: Final = 410
_HONOURS_RETRY_AFTER: Final = frozenset({429})


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Seconds to wait before each try: the first entry before the first try, each next after a failure."""

    delays: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE

    def __post_init__(self) -> None:
        if not self.delays:
            raise ValueError("a retry schedule has at least one try")
        if any(delay < 0 for delay in self.delays):
            raise ValueError("a retry schedule's delays are never negative")
        if self.delays[0] != 0:
            raise ValueError("the first try is immediate: a schedule starts with 0")

    @property
    def tries(self) -> int:
        return len(self.delays)

    def delay_after(self, failed_tries: int) -> timedelta | None:
        """How long after the ``failed_tries``-th failure the next try starts; None when none is left."""
        if failed_tries >= self.tries:
            return None
        return timedelta(seconds=self.delays[failed_tries])


@dataclass(frozen=True, slots=True)
class Answer:
    """What one try got: an HTTP status (and its Retry-After), or a failure with no answer."""

    status: int | None = None
    retry_after: str | None = None
    failure: str | None = None  # a fixed word: "timeout", "connection failed"

    @property
    def description(self) -> str:
        """Short and fixed-form, for the outbox's ``last_error`` and the logs: never the receiver's text."""
        return f"HTTP {self.status}" if self.status is not None else (self.failure or "no answer")


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    ENDPOINT_GONE = "endpoint_gone"


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one try means for its event: written by the outbox in the transaction that held the event."""

    verdict: Verdict
    at: datetime  # when the answer (or the failure) came
    next_attempt_at: datetime | None = None  # RETRY only
    error: str | None = None  # every verdict but DELIVERED

    @property
    def counts_as_try(self) -> bool:
        return self.verdict is not Verdict.ENDPOINT_GONE


def settle(answer: Answer, tries_before: int, schedule: RetrySchedule, now: datetime) -> Settlement:
    """The verdict on one try of an event that had failed ``tries_before`` times, answered at ``now``."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Settlement(Verdict.DELIVERED, now)
    if status == GONE:
        return Settlement(Verdict.ENDPOINT_GONE, now, error=answer.description)
    delay = schedule.delay_after(tries_before + 1)
    if delay is None:
        return Settlement(Verdict.DEAD, now, error=answer.description)
    if status is not None and (status in _HONOURS_RETRY_AFTER or 500 <= status < 600):
        asked = retry_after(answer.retry_after, now)
        if asked is not None:
            delay = max(delay, asked)
    return Settlement(Verdict.RETRY, now, next_attempt_at=now + delay, error=answer.description)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header as a wait from ``now``, within [0, RETRY_AFTER_CEILING]; None if unreadable.

    RFC 9110: either delay-seconds (digits only) or an HTTP date.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        ceiling = int(RETRY_AFTER_CEILING.total_seconds())
        wait = timedelta(seconds=min(int(text), ceiling) if len(text) <= len(str(ceiling)) else ceiling)
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:  # an HTTP date is always GMT
            moment = moment.replace(tzinfo=UTC)
        wait = moment - now
    return min(max(wait, timedelta(0)), RETRY_AFTER_CEILING)
