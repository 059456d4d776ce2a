"""Contract, both databases: what a sender may claim from the outbox, and what its settlement writes.

A claim is the due event first in line whose session has nothing earlier
pending; while held, nobody else gets it (PostgreSQL: other replicas skip the
locked row; SQLite: one process sends) and erasing its user waits for it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from tests.support.journals import stored_events
from tests.support.outboxes import NOON, Sessions, TickingClock, erasure_waits_for_a_send, opened_outbox
from tests.support.waiting import eventually
from voicecore.adapters.sql_journal import SqlEventOutbox
from voicecore.core.delivery_policy import Settlement, Verdict
from voicecore.core.outbox import OutboxClaim

LATER = NOON + timedelta(hours=1)


def delivered() -> Settlement:
    return Settlement(Verdict.DELIVERED, LATER)


def retry_at(moment: datetime) -> Settlement:
    return Settlement(Verdict.RETRY, LATER, next_attempt_at=moment, error="HTTP 500")


def held(claim: OutboxClaim | None) -> tuple[str, int]:
    assert claim is not None, "nothing was claimed"
    return claim.event.event.room_name, claim.event.event.sequence


async def test_a_sessions_events_go_in_order_and_no_other_session_waits_for_them(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        sessions = Sessions(journal)
        await sessions.start("a")
        await sessions.end("a")
        await sessions.start("b")
        async with outbox.claim(LATER) as first:
            assert held(first) == ("a", 1)
            async with outbox.claim(LATER) as second:
                assert held(second) == ("b", 1)  # not a's second: a's first is not settled
                async with outbox.claim(LATER) as third:
                    assert third is None
                assert second is not None
                await second.settle(delivered())
            assert first is not None
            await first.settle(delivered())
        async with outbox.claim(LATER) as fourth:
            assert held(fourth) == ("a", 2)


async def test_many_senders_claim_every_event_once_in_order_per_session(journal_url: str) -> None:
    """Two outboxes (replicas) with four senders each drain 30 sessions of 3 events, concurrently."""
    clock = TickingClock()
    async with opened_outbox(journal_url) as (journal, first), opened_outbox(journal_url) as (_, second):
        sessions = Sessions(journal, clock)
        for n in range(30):
            await sessions.start(f"room-{n}")
        for n in range(30):
            await sessions.end(f"room-{n}")
            await sessions.start(f"room-{n}-again")
        expected = 30 * 3
        claimed_now: set[str] = set()
        done: dict[str, list[int]] = defaultdict(list)
        claims: Counter[str] = Counter()

        async def sender(outbox: SqlEventOutbox) -> None:
            idle = 0
            while sum(map(len, done.values())) < expected and idle < 200:
                async with outbox.claim(LATER) as claim:
                    if claim is None:
                        idle += 1
                        await asyncio.sleep(0.005)
                        continue
                    event = claim.event.event
                    assert event.event_id not in claimed_now, "one event held by two senders"
                    claimed_now.add(event.event_id)
                    claims[event.event_id] += 1
                    assert done[event.room_name] == list(range(1, event.sequence)), "out of order"
                    await asyncio.sleep(random.uniform(0, 0.003))
                    await claim.settle(delivered())
                    done[event.room_name].append(event.sequence)
                    claimed_now.discard(event.event_id)

        await asyncio.gather(*(sender(outbox) for outbox in (first, second) for _ in range(4)))
        assert sum(map(len, done.values())) == expected
        assert set(claims.values()) == {1}


@pytest.mark.parametrize("journal_url", ["sqlite"], indirect=True)
async def test_on_sqlite_one_process_sends(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, sending), opened_outbox(journal_url) as (_, other):
        await Sessions(journal).start("a")
        async with sending.claim(LATER) as claim:
            assert held(claim) == ("a", 1)
        async with other.claim(LATER) as nothing:
            assert nothing is None  # the sender file lock is taken


async def test_a_settlement_says_whether_it_let_the_sessions_next_event_go(journal_url: str) -> None:
    """What wakes the sender at once for a session's next event (it is not due by a clock)."""
    async with opened_outbox(journal_url) as (journal, outbox):
        sessions = Sessions(journal)
        await sessions.start("a")
        await sessions.end("a")
        freed = []
        for settlement in (retry_at(LATER), Settlement(Verdict.DEAD, LATER), delivered()):
            async with outbox.claim(LATER) as claim:
                assert claim is not None
                await claim.settle(settlement)
            freed.append((held(claim), claim.freed_next))
        assert freed == [(("a", 1), False), (("a", 1), True), (("a", 2), False)]


async def test_a_retry_waits_its_time_and_its_sessions_later_events_wait_with_it(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        sessions = Sessions(journal)
        await sessions.start("a")
        retry = LATER + timedelta(minutes=5)
        async with outbox.claim(LATER) as claim:
            assert claim is not None
            await claim.settle(retry_at(retry))
        await sessions.end("a")  # written behind the retry: not due before it
        async with outbox.claim(LATER + timedelta(minutes=1)) as early:
            assert early is None
        assert await outbox.next_attempt_after(LATER) == retry
        async with outbox.claim(retry) as again:
            assert held(again) == ("a", 1)
            assert again is not None
            assert again.event.failed_tries == 1
            await again.settle(delivered())
        async with outbox.claim(retry) as following:
            assert held(following) == ("a", 2)


async def test_a_dead_event_lets_its_session_go_on_and_replay_sends_it_again(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        sessions = Sessions(journal)
        await sessions.start("a")
        await sessions.end("a")
        async with outbox.claim(LATER) as claim:
            assert claim is not None
            dead_id = claim.event.event.event_id
            await claim.settle(Settlement(Verdict.DEAD, LATER, error="HTTP 500"))
        async with outbox.claim(LATER) as following:
            assert held(following) == ("a", 2)
            assert following is not None
            await following.settle(delivered())
        assert await outbox.replay(LATER, since=LATER, event_id=None) == 0  # made before LATER
        assert await outbox.replay(LATER, since=None, event_id="evt_other") == 0
        assert await outbox.replay(LATER, since=NOON, event_id=dead_id) == 1
        async with outbox.claim(LATER) as replayed:
            assert replayed is not None
            assert (replayed.event.event.event_id, replayed.event.failed_tries) == (dead_id, 0)


async def test_a_410_stops_every_claim_for_that_endpoint_until_it_is_enabled(journal_url: str) -> None:
    async with (
        opened_outbox(journal_url) as (journal, outbox),
        opened_outbox(journal_url, endpoint="another") as (_, elsewhere),
    ):
        sessions = Sessions(journal)
        await sessions.start("a")
        await sessions.start("b")
        async with outbox.claim(LATER) as claim:
            assert claim is not None
            await claim.settle(Settlement(Verdict.ENDPOINT_GONE, LATER, error="HTTP 410"))
        async with outbox.claim(LATER) as nothing:
            assert nothing is None
        backlog = await outbox.backlog()
        assert (backlog.pending, backlog.endpoint_disabled_at) == (2, LATER)
        assert (await elsewhere.backlog()).endpoint_disabled_at is None
        assert await outbox.enable_endpoint() is True
        assert await outbox.enable_endpoint() is False
        async with outbox.claim(LATER) as again:
            assert again is not None
            assert again.event.failed_tries == 0  # a 410 costs the event no try


async def test_a_claim_left_by_an_error_writes_nothing_and_the_event_is_claimed_again(
    journal_url: str,
) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        await Sessions(journal).start("a")

        async def settle_then_fail() -> None:
            async with outbox.claim(LATER) as claim:
                assert claim is not None
                await claim.settle(delivered())
                raise RuntimeError("the sender failed")

        with pytest.raises(RuntimeError, match="the sender failed"):
            await settle_then_fail()
        async with outbox.claim(LATER) as again:
            assert held(again) == ("a", 1)
            assert again is not None
            assert again.event.failed_tries == 0


async def test_the_backlog_counts_what_is_pending(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        assert (await outbox.backlog()).pending == 0
        sessions = Sessions(journal)
        await sessions.start("a")
        await sessions.start("b")
        async with outbox.claim(LATER) as claim:
            assert claim is not None
            first_made = claim.event.event.created_at
            await claim.settle(delivered())
        backlog = await outbox.backlog()
        assert backlog.pending == 1
        assert backlog.oldest_pending_at is not None
        assert backlog.oldest_pending_at > first_made


async def test_erasing_a_user_waits_for_a_send_of_theirs_under_way(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox):
        sessions = Sessions(journal)
        await sessions.start("a", user="alice")
        await sessions.end("a")
        await sessions.start("b", user="bob")
        async with outbox.claim(LATER) as claim:
            assert held(claim) == ("a", 1)
            erasing = asyncio.create_task(journal.erase_user("alice"))
            await _until_waiting(journal_url, erasing)
            with pytest.raises(TimeoutError):  # it stays there while the event is held
                await asyncio.wait_for(asyncio.shield(erasing), 0.5)
            assert claim is not None
            await claim.settle(delivered())
        erasure = await erasing
        assert erasure.records == 1
        assert await stored_events(journal_url, "a") == []
        async with outbox.claim(LATER) as next_one:
            assert held(next_one) == ("b", 1)


async def _until_waiting(journal_url: str, erasing: asyncio.Task[object]) -> None:
    async def waiting() -> bool:
        assert not erasing.done(), "the erasure did not wait for the send under way"
        return await erasure_waits_for_a_send(journal_url, "alice")

    await eventually(waiting, bool, what="the erasure reaching the held event", every=0.01)


async def test_senders_are_woken_by_commits_here_and_on_other_replicas(journal_url: str) -> None:
    async with opened_outbox(journal_url) as (journal, outbox), opened_outbox(journal_url) as (other, _):
        woken = asyncio.Event()
        outbox.on_new_events(woken.set)
        await asyncio.wait_for(outbox.listening(), 10)
        for committed in (
            Sessions(journal).start("here"),
            outbox.replay(LATER, since=None, event_id=None),
            outbox.enable_endpoint(),
        ):
            woken.clear()
            await committed
            await asyncio.wait_for(woken.wait(), 10)
        if not journal_url.startswith("sqlite"):  # SQLite: one process, nobody else commits
            woken.clear()
            await Sessions(other).start("from-another-replica")
            await asyncio.wait_for(woken.wait(), 10)
