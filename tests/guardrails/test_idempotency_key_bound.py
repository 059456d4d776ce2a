"""The in-process store keeps at most a bounded number of idempotency keys; the oldest finished go first.

Each key is otherwise kept 24 h, and all users together could claim them without end
(issue 23). What is remembered is observed through the port: a remembered key used
with another request body is a Mismatch; a forgotten one is simply claimed anew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voicecore.adapters.in_process_keys import DEFAULT_MAX_IDEMPOTENCY_KEYS
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.core.idempotency import CLAIM_LEASE, KEY_TTL
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import Claimed, InProgress, Mismatch

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def claim(
    store: InProcessSessionStore, key: str, *, body: str = "start:workout", holder: str = "h"
) -> object:
    return await store.claim_idempotency_key(
        "alice", key, fingerprint=body, holder=holder, ttl=KEY_TTL, lease=CLAIM_LEASE
    )


async def start(store: InProcessSessionStore, key: str) -> None:
    """A start with ``key`` that made a live session, as the create path leaves it."""
    assert await claim(store, key) == Claimed()
    assert await store.add_session(SessionRecord(f"room-{key}", "alice", "workout", NOW))
    assert await store.complete_idempotency_key("alice", key, holder="h", room_name=f"room-{key}")


async def remembered(store: InProcessSessionStore, key: str) -> bool:
    """Whether the store still knows ``key`` (asking with another body claims a forgotten one)."""
    answer = await claim(store, key, body="start:diet", holder="prober")
    assert answer in (Mismatch(), Claimed())
    return answer == Mismatch()


async def test_past_the_bound_the_oldest_finished_key_is_forgotten_first() -> None:
    store = InProcessSessionStore(max_idempotency_keys=4)
    for key in ("k1", "k2", "k3", "k4"):
        await start(store, key)
    await start(store, "k5")
    assert not await remembered(store, "k1")
    assert [await remembered(store, key) for key in ("k3", "k4", "k5")] == [True, True, True]


async def test_a_key_in_progress_outlives_older_finished_ones_and_newer_ones_outlive_it() -> None:
    clock = Clock()
    store = InProcessSessionStore(clock=clock, max_idempotency_keys=3)
    assert await claim(store, "busy", holder="creator") == Claimed()  # the oldest, still creating
    await start(store, "done-1")
    await start(store, "done-2")
    await start(store, "done-3")  # one too many: done-1, the oldest finished, goes
    assert await claim(store, "busy", holder="retry") == InProgress()
    assert not await remembered(store, "done-1")  # claimed anew: the bound makes room again
    assert await remembered(store, "done-3")
    clock.now += CLAIM_LEASE + timedelta(seconds=1)  # busy's lease lapses: finished, and the oldest
    await start(store, "done-4")
    assert [await remembered(store, key) for key in ("done-3", "done-4")] == [True, True]


@pytest.mark.parametrize("max_keys", [0, -1])
def test_the_bound_is_at_least_one(max_keys: int) -> None:
    with pytest.raises(ValueError, match="max_keys"):
        InProcessSessionStore(max_idempotency_keys=max_keys)


async def test_the_default_store_forgets_the_oldest_key_past_its_documented_bound() -> None:
    store = InProcessSessionStore()
    for index in range(DEFAULT_MAX_IDEMPOTENCY_KEYS + 1):  # all in progress: the oldest goes
        assert await claim(store, f"key-{index}") == Claimed()
    assert await claim(store, "key-0", body="start:diet") == Claimed()
    assert await claim(store, f"key-{DEFAULT_MAX_IDEMPOTENCY_KEYS}", body="start:diet") == Mismatch()
