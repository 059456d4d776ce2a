"""Delivering the app's events from the outbox to its webhook endpoint: the loop every replica runs.

Each replica sends up to ``concurrency`` events at once, each claimed from the
outbox (core/outbox.py says what a claim guarantees) and held until its try is
settled by the pure policy (core/delivery_policy.py). The loop sleeps until it is
woken (an event committed here or, on PostgreSQL, by another replica; a send of
its own ended) or the next retry is due, and looks again at least every
``idle_seconds`` (what another replica left when it died). It never polls in a
tight loop. Woken, it lets wake-ups gather for ``gather_seconds`` first: the
request that committed an event answers before its send competes with it, and
one pass claims what a burst committed.

A graceful stop lets the sends under way end (each is bounded by the client's
timeout); a crash leaves them unsettled, and they are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

from voicecore.core.delivery_policy import RetrySchedule, Settlement, Verdict, settle
from voicecore.core.errors import JournalUnavailable
from voicecore.core.log_context import LogContext
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.outbox import EventOutbox, OutboxEvent, WebhookClient
from voicecore.core.replica_work import logged_pass

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY: Final = 8
# How often an idle loop looks anyway, and how stale the backlog metrics may get.
IDLE_SECONDS: Final = 5.0
# How long a woken loop lets wake-ups gather before it looks: the request that committed an
# event answers first, and one pass claims what a burst committed (docs/webhooks.md).
GATHER_SECONDS: Final = 0.02
REPLAY_COMMAND: Final = "python -m voicecore_http webhooks replay"
ENABLE_COMMAND: Final = "python -m voicecore_http webhooks enable"


class AppWebhookDelivery:
    def __init__(
        self,
        outbox: EventOutbox,
        client: WebhookClient,
        schedule: RetrySchedule,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics = NO_METRICS,
        concurrency: int = DEFAULT_CONCURRENCY,
        idle_seconds: float = IDLE_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        if concurrency < 1:
            raise ValueError("at least one send at a time")
        self._outbox = outbox
        self._client = client
        self._schedule = schedule
        self._clock = clock
        self._metrics = metrics
        self._concurrency = concurrency
        self._idle_seconds = idle_seconds
        self._gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._backlog_counted_at: float | None = None
        self._slots_full = False

    def wake(self) -> None:
        """Look at the outbox now (events committed, an endpoint enabled)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; then let the sends under way end."""
        self._outbox.on_new_events(self.wake)
        try:
            while True:
                self._wake.clear()
                wait = await logged_pass(
                    self._pass, logger=logger, what="app webhook delivery", operation="app_webhooks"
                )
                if await self._sleep(self._idle_seconds if wait is None else wait):
                    await asyncio.sleep(self._gather_seconds)
        finally:
            if self._sending:
                await asyncio.wait(set(self._sending))

    async def _pass(self) -> float:
        """Claim due events into every free slot; how long to sleep afterwards."""
        await self._count_backlog_if_stale()
        while len(self._sending) < self._concurrency:
            claimed: asyncio.Future[bool | JournalUnavailable] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._deliver(claimed), name="voicecore-app-webhook-send")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            found = await asyncio.shield(claimed)  # a stop cancels the pass, not the claim
            if isinstance(found, JournalUnavailable):
                raise found
            if not found:
                break
        else:
            self._slots_full = True  # the first send to end wakes the loop
            return self._idle_seconds
        self._slots_full = False
        now = self._clock()
        due = await self._outbox.next_attempt_after(now)
        wait = self._idle_seconds if due is None else (due - now).total_seconds()
        return min(max(wait, 0.0), self._idle_seconds)

    async def _deliver(self, claimed: asyncio.Future[bool | JournalUnavailable]) -> None:
        held: OutboxEvent | None = None
        settled: Settlement | None = None
        look_again = True  # unless the try settled and nothing it did calls for a look
        try:
            async with self._outbox.claim(self._clock()) as claim:
                _resolve(claimed, claim is not None)
                if claim is None:
                    look_again = False
                    return
                held = claim.event
                answer = await self._client.send(held.event)
                settled = settle(answer, held.failed_tries, self._schedule, self._clock())
                await claim.settle(settled)
            if held is not None and settled is not None:  # written: the block ended without raising
                self._report(held, settled)
                # A retry's time must be slept to; a freed event of the session, or a slot
                # others waited for, is due now.
                look_again = settled.verdict is Verdict.RETRY or claim.freed_next or self._slots_full
        except JournalUnavailable as exc:
            if not claimed.done():
                claimed.set_result(exc)  # the pass reports it
                return
            logger.warning(
                "an app event's try could not be recorded; it is sent again: %s",
                exc,
                extra=_context(held, "app_webhooks"),
            )
        finally:
            _resolve(claimed, False)  # when cancelled before it claimed anything
            if look_again and held is not None:
                self._wake.set()

    def _report(self, held: OutboxEvent, settlement: Settlement) -> None:
        event = held.event
        context = _context(held, "app_webhooks")
        tries = held.failed_tries + 1
        match settlement.verdict:
            case Verdict.DELIVERED:
                latency = (settlement.at - event.created_at).total_seconds()
                self._metrics.app_event_delivered(event.type, max(latency, 0.0))
            case Verdict.RETRY:
                self._metrics.app_event_retried(event.type)
                logger.warning(
                    "app event not delivered (%s, try %d of %d); tried again at %s",
                    settlement.error,
                    tries,
                    self._schedule.tries,
                    settlement.next_attempt_at,
                    extra=context,
                )
            case Verdict.DEAD:
                self._metrics.app_event_dead(event.type)
                logger.error(
                    "app event %s is dead after %d tries (last: %s); `%s --event-id %s` sends it again",
                    event.event_id,
                    tries,
                    settlement.error,
                    REPLAY_COMMAND,
                    event.event_id,
                    extra=context,
                )
            case Verdict.ENDPOINT_GONE:
                self._metrics.app_webhook_disabled()
                logger.error(
                    "the app's webhook endpoint answered 410 Gone: it is disabled, and events wait "
                    "until `%s`",
                    ENABLE_COMMAND,
                    extra=context,
                )

    async def _count_backlog_if_stale(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._backlog_counted_at is not None and now - self._backlog_counted_at < self._idle_seconds:
            return
        self._backlog_counted_at = now
        backlog = await self._outbox.backlog()
        oldest = backlog.oldest_pending_at
        age = 0.0 if oldest is None else max((self._clock() - oldest).total_seconds(), 0.0)
        self._metrics.app_events_backlog(
            backlog.pending, age, disabled=backlog.endpoint_disabled_at is not None
        )

    async def _sleep(self, seconds: float) -> bool:
        """Until woken (True) or ``seconds`` have passed (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
                return True
        return False


def _resolve(claimed: asyncio.Future[bool | JournalUnavailable], value: bool) -> None:
    if not claimed.done():
        claimed.set_result(value)


def _context(held: OutboxEvent | None, operation: str) -> LogContext:
    if held is None:
        return LogContext(operation=operation)
    event = held.event
    return LogContext(
        operation=operation, event_id=event.event_id, event_type=event.type, room_name=event.room_name
    )
