"""The ports app webhooks are delivered through: the outbox the journal writes, and the endpoint's client.

The outbox is the journal's table of undelivered events (core/journal.py writes
them in the transaction of the change they report). A sender claims one event at
a time and holds it alone, across replicas, until its try is settled:

- due: its next try's time has come, and the endpoint is not disabled;
- in order: no earlier event of its session is still pending, so a session's
  events reach the app in sequence, and a session waiting on a retry holds up
  no other;
- held: no other sender gets it while the claim's block runs (a row lock on
  PostgreSQL, this process alone on SQLite); a sender that dies releases it
  unsettled, so it is tried again (at least once).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from voicecore.core.delivery_policy import Answer, Settlement
from voicecore.core.journal import AppEvent


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    event: AppEvent
    failed_tries: int  # tries that did not deliver it so far


@dataclass(frozen=True, slots=True)
class Backlog:
    """The outbox as the metrics show it."""

    pending: int
    oldest_pending_at: datetime | None
    endpoint_disabled_at: datetime | None


class OutboxClaim(Protocol):
    @property
    def event(self) -> OutboxEvent: ...

    async def settle(self, settlement: Settlement) -> None:
        """Write what the try means (ENDPOINT_GONE disables the endpoint); durable when the block ends."""
        ...

    @property
    def freed_next(self) -> bool:
        """Once the block has ended: whether the settlement let a pending later event of the session go."""
        ...


@runtime_checkable
class EventOutbox(Protocol):
    async def open(self) -> None:
        """Start listening for new events (the journal's commits, here and on other replicas)."""
        ...

    async def aclose(self) -> None: ...

    def on_new_events(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from the event loop, never blocking) whenever events may have become due."""
        ...

    def claim(self, now: datetime) -> AbstractAsyncContextManager[OutboxClaim | None]:
        """Hold the next event due at ``now`` for the block (see the module docstring); None if none is.

        Raises ``JournalUnavailable`` when the database fails; whatever the claim
        settled is then not written, and the event is tried again.
        """
        ...

    async def next_attempt_after(self, now: datetime) -> datetime | None:
        """When the earliest pending event that is not due at ``now`` becomes due."""
        ...

    async def backlog(self) -> Backlog: ...

    async def enable_endpoint(self) -> bool:
        """Enable the endpoint a 410 disabled; whether it was disabled."""
        ...

    async def replay(self, now: datetime, *, since: datetime | None, event_id: str | None) -> int:
        """Dead events (created at or after ``since``; this one only, if given) due again with every try."""
        ...


@runtime_checkable
class WebhookClient(Protocol):
    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    async def send(self, event: AppEvent) -> Answer:
        """One signed try; every failure is an ``Answer`` with ``failure`` set, never an exception."""
        ...
