"""A store whose index is marked rebuilt, as a replica's start-up repair leaves it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TypeVar

from voicecore.core.store import SessionStore

S = TypeVar("S", bound=SessionStore)


async def indexed(store: S) -> S:
    """``store``, its index marked rebuilt (of whatever it holds): it admits sessions from now on."""
    rebuild_id = uuid.uuid4().hex
    await store.begin_rebuild(rebuild_id, lease=timedelta(minutes=1))
    assert await store.finish_rebuild(rebuild_id)
    return store
