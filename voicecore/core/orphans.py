"""Creating a room so that a failed create never leaves a room of ours behind.

A timed-out or dropped create may still have reached LiveKit, and the user never
got the name. Only a room carrying exactly the metadata we sent is removed (never
someone else's). If LiveKit cannot answer the check right now, the check carries
on in the background a few times; the room's ``empty_timeout`` is the last backstop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from voicecore.core.errors import GatewayError
from voicecore.core.log_context import LogContext
from voicecore.core.ports import Room, RoomGateway, RoomSpec

logger = logging.getLogger(__name__)

# About a minute of retries; a room LiveKit reports absent three times is taken as
# never created. Past the cap (a long outage), the rooms' empty_timeout does the cleaning.
CLEANUP_DELAYS_SECONDS: Final = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
CLEANUP_ABSENT_ANSWERS: Final = 3
CLEANUPS_MAX_PENDING: Final = 1000


class OrphanSafeCreator:
    """``create`` rooms; owns the background cleanups of creates that failed."""

    def __init__(
        self, gateway: RoomGateway, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self._gateway = gateway
        self._sleep = sleep
        self._cleanups: set[asyncio.Task[None]] = set()
        self._closed = False

    async def create(self, spec: RoomSpec) -> Room:
        try:
            return await self._gateway.create_room(spec)
        except GatewayError:
            try:
                await self._remove_if_ours(spec)
            except GatewayError:
                self._clean_up_later(spec)
            raise

    async def remove(self, spec: RoomSpec) -> None:
        """Delete a room this creator made that must not live on (say, nobody could record it)."""
        try:
            await self._remove_if_ours(spec)
        except GatewayError:
            self._clean_up_later(spec)

    @property
    def pending(self) -> int:
        return len(self._cleanups)

    async def aclose(self) -> None:
        """Cancel background cleanups (at shutdown); empty_timeout covers what they leave."""
        self._closed = True
        tasks = list(self._cleanups)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _remove_if_ours(self, spec: RoomSpec) -> bool:
        """Delete the room if it exists and carries exactly our metadata; True if it did."""
        leftover = await self._gateway.get_room(spec.name)
        if leftover is None or leftover.metadata != spec.metadata:
            return False
        await self._gateway.delete_room(spec.name)
        logger.warning("removed a room whose create failed", extra=LogContext(room_name=spec.name))
        return True

    def _clean_up_later(self, spec: RoomSpec) -> None:
        if self._closed or len(self._cleanups) >= CLEANUPS_MAX_PENDING:
            logger.warning(
                "not retrying the removal of a possibly half-created room; empty_timeout will close it",
                extra=LogContext(room_name=spec.name, operation="create_room"),
            )
            return
        task = asyncio.create_task(self._retry(spec), name=f"voicecore-cleanup-{spec.name}")
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _retry(self, spec: RoomSpec) -> None:
        absent = 0
        for delay in CLEANUP_DELAYS_SECONDS:
            await self._sleep(delay)
            try:
                if await self._remove_if_ours(spec):
                    return
            except GatewayError:
                continue  # no answer is not an answer: only LiveKit saying "absent" counts
            absent += 1
            if absent >= CLEANUP_ABSENT_ANSWERS:
                return  # still absent well after the failed create: it never landed
        logger.warning(
            "gave up removing a possibly half-created room; empty_timeout will close it",
            extra=LogContext(room_name=spec.name, operation="create_room"),
        )
