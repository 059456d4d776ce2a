"""PostgreSQL's wake-up for the senders: ``LISTEN`` on a connection of its own, back when it drops.

Every replica's journal notifies the channel in the transaction that writes app
events (outbox_writes.py), so the server tells every listener when they commit.
While the listening connection is down, senders still look on their own every
few seconds (core/app_webhooks.py): a lost notification delays a send, never
loses it. Each time the connection comes back the senders are woken, for what
was committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from voicecore.core.log_context import LogContext

logger = logging.getLogger(__name__)

# Seconds: how long to wait before connecting again, and how often a quiet connection is checked.
RECONNECT_SECONDS: Final = 2.0
CHECK_SECONDS: Final = 30.0
CONNECT_TIMEOUT_SECONDS: Final = 5.0


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as asyncpg's own DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresWakeUps:
    def __init__(self, url: str, channel: str, wake: Callable[[], None], *, own: str) -> None:
        self._dsn = asyncpg_dsn(url)
        self._channel = channel
        self._wake = wake
        self._own = own  # this process's notifications: it woke its senders itself
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while the LISTEN is in place (tests wait on it)

    def open(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="voicecore-app-events-listen")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload != self._own:
            self._wake()

    async def _listen(self) -> None:
        failing = False
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    server_settings={"application_name": "voicecore-listen"},
                )
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                await connection.add_listener(self._channel, self._heard)
                self.listening.set()
                if failing:
                    logger.info("listening for app events again", extra=LogContext(operation="app_webhooks"))
                    failing = False
                self._wake()  # whatever was committed while nobody listened
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CHECK_SECONDS):
                            await lost.wait()
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not failing:
                    logger.warning(
                        "not listening for app events (%s); senders look every few seconds meanwhile",
                        type(exc).__name__,
                        extra=LogContext(operation="app_webhooks"),
                    )
                    failing = True
            finally:
                self.listening.clear()
                if connection is not None:
                    with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)
            await asyncio.sleep(RECONNECT_SECONDS)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _: event.set()
