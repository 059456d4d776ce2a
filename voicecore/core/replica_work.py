"""Work that one replica at a time does: a store lock held for a block, and repeated logged passes.

The index repair, the agent watchdog and a rejoin's re-dispatch decision each run
under a lock with a lease in the session store, so replicas never do them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Final, TypeVar

from voicecore.core.errors import GatewayError, JournalUnavailable, StoreError
from voicecore.core.log_context import LogContext
from voicecore.core.store import SessionStore

T = TypeVar("T")

# Whoever ends a room holds this lock, and keeps it once the room is deleted: any other
# end of the same room meanwhile, on any replica, knows it is not the one that ended it.
END_LOCK_LEASE: Final = timedelta(seconds=60)


def end_lock(room_name: str) -> str:
    """The lock of ending ``room_name``, shared by the owner's end, LiveKit's webhook and the bounds."""
    return f"end:{room_name}"


@contextlib.asynccontextmanager
async def lock_if_free(store: SessionStore, name: str, *, lease: timedelta) -> AsyncIterator[bool]:
    """Hold the store lock ``name`` for the block if nobody else does; yields whether it is held."""
    owner = uuid.uuid4().hex
    held = await store.acquire_lock(name, owner, lease=lease)
    try:
        yield held
    finally:
        if held:
            await store.release_lock(name, owner)


async def logged_pass(
    run_once: Callable[[], Awaitable[T]], *, logger: logging.Logger, what: str, operation: str
) -> T | None:
    """One pass whose failure is logged, not raised: the next pass tries again."""
    try:
        return await run_once()
    except (GatewayError, StoreError, JournalUnavailable) as exc:
        logger.warning(
            "%s failed; the next pass tries again: %s", what, exc, extra=LogContext(operation=operation)
        )
        return None


async def every(interval_seconds: float, run: Callable[[], Awaitable[object]]) -> None:
    """``run()`` every ``interval_seconds``, the first after one interval, until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        await run()
