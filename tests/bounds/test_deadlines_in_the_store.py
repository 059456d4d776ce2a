"""Contract, both stores: each session's ``ends_at``, an index of them by deadline, and tightening."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from tests.support.clocks import START
from tests.support.records import record
from voicecore.core.store import Admitted, SessionStore

SOON, LATER, LATEST = (START + timedelta(minutes=m) for m in (10, 20, 30))


async def test_sessions_are_due_once_their_deadline_passes_soonest_first(store: SessionStore) -> None:
    await store.add_session(replace(record("late"), ends_at=LATER))
    await store.admit_session(replace(record("soon"), ends_at=SOON), max_live=0, per_minute=0)
    await store.add_session(record("unbounded"))
    assert await store.due(SOON - timedelta(microseconds=1), limit=10) == []
    assert [r.room_name for r in await store.due(SOON, limit=10)] == ["soon"]
    assert [r.room_name for r in await store.due(LATEST, limit=10)] == ["soon", "late"]
    assert [r.room_name for r in await store.due(LATEST, limit=1)] == ["soon"]
    # Due until it ends: a pass that could not end it sees it again.
    assert [r.room_name for r in await store.due(LATEST, limit=10)] == ["soon", "late"]
    [due] = await store.due(SOON, limit=1)
    assert due == replace(record("soon"), ends_at=SOON)


async def test_an_ended_session_is_no_longer_due(store: SessionStore) -> None:
    await store.add_session(replace(record("a"), ends_at=SOON))
    await store.add_session(replace(record("b"), ends_at=SOON))
    await store.remove_session("a")
    await store.remove_sessions(["b"])
    assert await store.due(LATEST, limit=10) == []


async def test_tightening_keeps_the_sooner_and_replacing_takes_the_new(store: SessionStore) -> None:
    await store.add_session(replace(record("a"), ends_at=LATER))
    await store.add_session(record("b"))
    moved = await store.set_ends_at({"a": LATEST, "b": LATER, "nowhere": SOON}, tighten=True)
    assert moved == [replace(record("b"), ends_at=LATER)]  # what changed, as now stored
    assert (await store.get_session("a")).ends_at == LATER  # type: ignore[union-attr]
    assert (await store.get_session("b")).ends_at == LATER  # type: ignore[union-attr]
    assert await store.set_ends_at({"a": LATER, "b": LATER}, tighten=False) == []  # nothing moved
    moved = await store.set_ends_at({"a": SOON, "b": None}, tighten=True)
    assert [(r.room_name, r.ends_at) for r in moved] == [("a", SOON)]
    assert (await store.get_session("a")).ends_at == SOON  # type: ignore[union-attr]
    assert (await store.get_session("b")).ends_at == LATER  # type: ignore[union-attr]
    assert await store.get_session("nowhere") is None  # unknown rooms are skipped, not made
    moved = await store.set_ends_at({"a": LATEST, "b": None}, tighten=False)
    assert [(r.room_name, r.ends_at) for r in moved] == [("a", LATEST), ("b", None)]
    assert (await store.get_session("a")).ends_at == LATEST  # type: ignore[union-attr]
    assert (await store.get_session("b")).ends_at is None  # type: ignore[union-attr]
    assert [r.room_name for r in await store.due(LATER, limit=10)] == []
    assert [r.room_name for r in await store.due(LATEST, limit=10)] == ["a"]


async def test_racing_tightenings_over_two_replicas_keep_the_soonest(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    first, second = replicas
    assert (
        await first.admit_session(replace(record("a"), ends_at=LATEST), max_live=0, per_minute=0)
        == Admitted()
    )
    offers = [START + timedelta(seconds=s) for s in range(100, 140)]
    await asyncio.gather(
        *(
            replica.set_ends_at({"a": at}, tighten=True)
            for replica, at in zip((first, second) * 20, offers, strict=True)
        )
    )
    assert (await second.get_session("a")).ends_at == min(offers)  # type: ignore[union-attr]
    assert [r.room_name for r in await first.due(min(offers), limit=5)] == ["a"]
