"""Contract, both stores: the per-user creation rate limit (a token bucket) and its Retry-After."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.support import FakeClock
from voicecore.core.store import RateAllowed, RateLimited, SessionStore

users = (f"user-{n}" for n in itertools.count())


async def test_a_full_bucket_allows_a_minute_of_creates_then_says_when(
    store: SessionStore, clock: FakeClock
) -> None:
    assert [await store.take_creation_token("alice", per_minute=3) for _ in range(3)] == [RateAllowed()] * 3
    # One token comes back every 20 s.
    assert await store.take_creation_token("alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    clock.advance(timedelta(seconds=19, milliseconds=500))
    assert await store.take_creation_token("alice", per_minute=3) == RateLimited(retry_after_seconds=1)
    clock.advance(timedelta(milliseconds=500))
    assert await store.take_creation_token("alice", per_minute=3) == RateAllowed()
    assert await store.take_creation_token("alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    assert await store.take_creation_token("bob", per_minute=3) == RateAllowed()


async def test_retry_after_is_whole_seconds_and_at_least_one(store: SessionStore) -> None:
    # A token every 500 ms: the wait is rounded up, never down to 0.
    answers = [await store.take_creation_token("alice", per_minute=120) for _ in range(121)]
    assert answers == [RateAllowed()] * 120 + [RateLimited(retry_after_seconds=1)]


async def test_refused_attempts_do_not_use_up_tokens(store: SessionStore, clock: FakeClock) -> None:
    await store.take_creation_token("alice", per_minute=1)
    for _ in range(5):
        await store.take_creation_token("alice", per_minute=1)
    clock.advance(timedelta(minutes=1))
    assert await store.take_creation_token("alice", per_minute=1) == RateAllowed()


async def test_an_idle_bucket_refills_to_its_depth_and_no_more(store: SessionStore, clock: FakeClock) -> None:
    for _ in range(2):
        await store.take_creation_token("alice", per_minute=2)
    clock.advance(timedelta(hours=5))
    answers = [await store.take_creation_token("alice", per_minute=2) for _ in range(3)]
    assert answers == [RateAllowed(), RateAllowed(), RateLimited(retry_after_seconds=30)]


steps = st.lists(st.tuples(st.integers(0, 90_000), st.integers(1, 4)), min_size=1, max_size=25)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_minute=st.integers(1, 30), plan=steps)
async def test_the_limit_holds_and_retry_after_tells_the_truth(
    store: SessionStore, clock: FakeClock, per_minute: int, plan: list[tuple[int, int]]
) -> None:
    """Over any stretch, allowed creates <= bucket depth + what refilled; a waited Retry-After works."""
    user = next(users)
    start = clock.now
    allowed = 0
    for wait_ms, attempts in plan:
        clock.advance(timedelta(milliseconds=wait_ms))
        for _ in range(attempts):
            decision = await store.take_creation_token(user, per_minute=per_minute)
            if isinstance(decision, RateAllowed):
                allowed += 1
            else:
                assert decision.retry_after_seconds >= 1
            elapsed_minutes = (clock.now - start) / timedelta(minutes=1)
            assert allowed <= per_minute + math.floor(elapsed_minutes * per_minute)
    waited = await store.take_creation_token(user, per_minute=per_minute)
    if isinstance(waited, RateLimited):
        clock.advance(timedelta(seconds=waited.retry_after_seconds))
        assert await store.take_creation_token(user, per_minute=per_minute) == RateAllowed()


async def test_concurrent_creates_over_two_replicas_take_exactly_the_tokens_there_are(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(replica.take_creation_token("alice", per_minute=5) for replica in (first, second) * 10)
    )
    assert answers.count(RateAllowed()) == 5
    assert answers.count(RateLimited(retry_after_seconds=12)) == 15


async def test_a_rate_below_one_is_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        await store.take_creation_token("alice", per_minute=0)
