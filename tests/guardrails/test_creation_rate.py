"""The creation rate: SESSION_CREATES_PER_MINUTE starts a minute per user, a token bucket, and a
Retry-After that tells the truth.

The store's admission (both stores, and Redis on its own clock), then the service's 429.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.apps import check_error
from tests.support.clocks import StoppedClock
from tests.support.constants import RATE_LIMITED
from tests.support.guardrails import Serve, create
from tests.support.indexing import indexed
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.records import record
from tests.support.tokens import auth_header
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.store import Admission, Admitted, RateLimited, RoomTaken, SessionStore, SlotRefused
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer

users = (f"user-{n}" for n in itertools.count())


rooms = (f"rate-room-{n}" for n in itertools.count())


async def admit(store: SessionStore, user: str, *, per_minute: int) -> Admission:
    """Admit a new session of ``user`` behind the rate limit alone."""
    return await store.admit_session(record(next(rooms), user), max_live=0, per_minute=per_minute)


PER_MINUTE = 2


# --- the store's admission ------------------------------------------------------------


async def test_a_recorded_room_is_taken_and_nothing_is_spent(store: SessionStore) -> None:
    await store.add_session(record("room-1", "alice"))
    assert await store.admit_session(record("room-1", "alice"), max_live=5, per_minute=1) == RoomTaken()
    # The one token a minute is still there.
    assert await admit(store, "alice", per_minute=1) == Admitted()


async def test_past_the_rate_nothing_is_recorded(store: SessionStore, clock: StoppedClock) -> None:
    assert await store.admit_session(record("room-1", "alice"), max_live=0, per_minute=1) == Admitted()
    refused = await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1)
    assert refused == RateLimited(retry_after_seconds=60)
    assert await store.get_session("room-2") is None
    clock.advance(timedelta(seconds=60))
    assert await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1) == Admitted()


async def test_a_refusal_at_the_cap_keeps_the_token_it_took(store: SessionStore) -> None:
    """Retrying at the cap still spends the user's rate: the cap cannot be hammered for free."""
    assert await store.admit_session(record("room-1", "alice"), max_live=1, per_minute=3) == Admitted()
    for room in ("room-2", "room-3"):
        refused = await store.admit_session(record(room, "alice"), max_live=1, per_minute=3)
        assert refused == SlotRefused(live=1)
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)


async def test_a_full_bucket_allows_a_minute_of_creates_then_says_when(
    store: SessionStore, clock: StoppedClock
) -> None:
    assert [await admit(store, "alice", per_minute=3) for _ in range(3)] == [Admitted()] * 3
    # One token comes back every 20 s.
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    clock.advance(timedelta(seconds=19, milliseconds=500))
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=1)
    clock.advance(timedelta(milliseconds=500))
    assert await admit(store, "alice", per_minute=3) == Admitted()
    assert await admit(store, "alice", per_minute=3) == RateLimited(retry_after_seconds=20)
    assert await admit(store, "bob", per_minute=3) == Admitted()


async def test_retry_after_is_whole_seconds_and_at_least_one(store: SessionStore) -> None:
    # A token every 500 ms: the wait is rounded up, never down to 0.
    answers = [await admit(store, "alice", per_minute=120) for _ in range(121)]
    assert answers == [Admitted()] * 120 + [RateLimited(retry_after_seconds=1)]


async def test_refused_attempts_do_not_use_up_tokens(store: SessionStore, clock: StoppedClock) -> None:
    await admit(store, "alice", per_minute=1)
    for _ in range(5):
        await admit(store, "alice", per_minute=1)
    clock.advance(timedelta(minutes=1))
    assert await admit(store, "alice", per_minute=1) == Admitted()


async def test_an_idle_bucket_refills_to_its_depth_and_no_more(
    store: SessionStore, clock: StoppedClock
) -> None:
    for _ in range(2):
        await admit(store, "alice", per_minute=2)
    clock.advance(timedelta(hours=5))
    answers = [await admit(store, "alice", per_minute=2) for _ in range(3)]
    assert answers == [Admitted(), Admitted(), RateLimited(retry_after_seconds=30)]


steps = st.lists(st.tuples(st.integers(0, 90_000), st.integers(1, 4)), min_size=1, max_size=25)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_minute=st.integers(1, 30), plan=steps)
async def test_the_limit_holds_and_retry_after_tells_the_truth(
    store: SessionStore, clock: StoppedClock, per_minute: int, plan: list[tuple[int, int]]
) -> None:
    """Over any stretch, admitted creates <= bucket depth + what refilled; a waited Retry-After works."""
    user = next(users)
    start = clock.now
    allowed = 0
    for wait_ms, attempts in plan:
        clock.advance(timedelta(milliseconds=wait_ms))
        for _ in range(attempts):
            decision = await admit(store, user, per_minute=per_minute)
            if isinstance(decision, Admitted):
                allowed += 1
            else:
                assert isinstance(decision, RateLimited)
                assert decision.retry_after_seconds >= 1
            elapsed_minutes = (clock.now - start) / timedelta(minutes=1)
            assert allowed <= per_minute + math.floor(elapsed_minutes * per_minute)
    waited = await admit(store, user, per_minute=per_minute)
    if isinstance(waited, RateLimited):
        clock.advance(timedelta(seconds=waited.retry_after_seconds))
        assert await admit(store, user, per_minute=per_minute) == Admitted()


async def test_concurrent_creates_over_two_replicas_take_exactly_the_tokens_there_are(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    answers = await asyncio.gather(
        *(admit(replica, "alice", per_minute=5) for replica in (first, second) * 10)
    )
    assert answers.count(Admitted()) == 5
    assert answers.count(RateLimited(retry_after_seconds=12)) == 15


async def test_the_servers_clock_drives_the_rate_limit(empty_redis: LocalRedisServer) -> None:
    """Built as production builds it: no injected clock, so the bucket runs on Redis's TIME."""
    store = await indexed(RedisSessionStore(empty_redis.url))
    try:
        assert await store.admit_session(record("room-1", "alice"), max_live=0, per_minute=1) == Admitted()
        refused = await store.admit_session(record("room-2", "alice"), max_live=0, per_minute=1)
        assert isinstance(refused, RateLimited)
        assert 1 <= refused.retry_after_seconds <= 60
    finally:
        await store.aclose()


# --- the service's answer ---------------------------------------------------------------


async def test_past_the_rate_the_answer_says_when_to_retry(
    serve: Serve, memory_gateway: InMemoryRoomGateway, log_leak_guard: LeakGuard
) -> None:
    headers = auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=PER_MINUTE) as client:
        made = [await create(client, headers) for _ in range(PER_MINUTE)]
        refused = await create(client, headers)
    assert [r.status_code for r in made] == [201] * PER_MINUTE
    assert refused.status_code == 429
    check_error(refused, RATE_LIMITED, log_leak_guard)
    # The bucket refills evenly: the next start is allowed a 1/PER_MINUTE minute after the last.
    seconds_per_token = math.ceil(60 / PER_MINUTE)
    assert seconds_per_token - 1 <= int(refused.headers["Retry-After"]) <= seconds_per_token
    assert len(memory_gateway.room_names) == PER_MINUTE


async def test_the_rate_is_per_user(serve: Serve, memory_gateway: InMemoryRoomGateway) -> None:
    first, second = auth_header(unique_user_id()), auth_header(unique_user_id())
    async with serve(memory_gateway, cap=0, per_minute=1) as client:
        assert (await create(client, first)).status_code == 201
        assert (await create(client, first)).status_code == 429
        assert (await create(client, second)).status_code == 201
