"""What each answer of the app's endpoint does, end to end: the service on real LiveKit, both databases.

Sessions are made and ended through the HTTP API; their events reach a real
receiver that verifies every request with the ``standardwebhooks`` package and
answers as each test says. The schedule is compressed (five tries, 0.2 s apart).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.support.livekit import unique_user_id
from tests.support.webhook_receiver import REDIRECT_TARGET, Hit, Reply, WebhookReceiver
from tests.support.webhook_service import TRIES, WebhookService, webhook_service, webhook_settings
from voicecore.testing.livekit_server import LocalLiveKitServer

pytestmark = pytest.mark.livekit

DELIVERED = "voicecore_app_events_delivered_total"
RETRIED = "voicecore_app_events_retried_total"
DEAD = "voicecore_app_events_dead_total"
STARTED, ENDED = "session.started", "session.ended"


@pytest.fixture
async def service(
    webhook_livekit: LocalLiveKitServer, journal_url: str, receiver: WebhookReceiver, webhook_secret: str
) -> AsyncIterator[WebhookService]:
    async with webhook_service(
        webhook_livekit, journal_url, webhook_settings(receiver.url, webhook_secret)
    ) as s:
        yield s


def acknowledged(hits: list[Hit], room: str) -> list[str]:
    return [hit.type for hit in hits if hit.room_name == room and hit.acknowledged]


async def test_each_event_arrives_once_signed_and_in_order(
    service: WebhookService, receiver: WebhookReceiver
) -> None:
    sessions = [await service.start_session() for _ in range(3)]
    for user, room in sessions:
        await service.end_session(user, room)
    hits = await receiver.wait_for(lambda h: len(h) >= 6, what="six events")
    assert all(hit.verified for hit in hits)
    assert len({hit.webhook_id for hit in hits}) == 6  # each once
    for user, room in sessions:
        mine = [hit for hit in hits if hit.room_name == room]
        assert [(hit.type, hit.sequence, hit.user_id) for hit in mine] == [
            (STARTED, 1, user),
            (ENDED, 2, user),
        ]
        ended = mine[1].body["data"]
        assert isinstance(ended, dict)
        assert ended["end_reason"] == "user_ended"
        assert isinstance(ended["duration_seconds"], float)
    # The receiver answers before the sender records it: the counts follow.
    await service.wait_for_metric(DELIVERED, lambda v: v == 3, type=STARTED)
    await service.wait_for_metric(DELIVERED, lambda v: v == 3, type=ENDED)
    assert await service.metric("voicecore_app_event_delivery_seconds_count") == 6
    assert await service.metric(RETRIED, type=STARTED) == 0


async def test_a_failing_event_is_retried_and_holds_up_its_session_only(
    service: WebhookService, receiver: WebhookReceiver
) -> None:
    failing = {"yes"}
    user_a = unique_user_id("failing")
    receiver.reply = lambda hit: Reply(500) if hit.user_id == user_a and failing else Reply()
    _, room_a = await service.start_session(user_a)
    await receiver.wait_for(lambda h: len([x for x in h if x.room_name == room_a]) >= 2, what="a's retries")
    await service.end_session(user_a, room_a)
    user_b, room_b = await service.start_session()
    await service.end_session(user_b, room_b)
    hits = await receiver.wait_for(
        lambda h: acknowledged(h, room_b) == [STARTED, ENDED], what="b, unhindered"
    )
    assert [hit.type for hit in hits if hit.room_name == room_a] == [STARTED] * len(
        [hit for hit in hits if hit.room_name == room_a]
    ), "a's end went out while its start was being retried"
    failing.clear()
    hits = await receiver.wait_for(lambda h: acknowledged(h, room_a) == [STARTED, ENDED], what="a, in order")
    tries_of_a_start = [hit for hit in hits if hit.room_name == room_a and hit.type == STARTED]
    assert len({hit.webhook_id for hit in tries_of_a_start}) == 1  # webhook-id is stable across retries
    assert all(hit.verified for hit in tries_of_a_start)  # each try signed anew
    assert await service.metric(RETRIED, type=STARTED) == len(tries_of_a_start) - 1


async def test_a_try_that_times_out_is_tried_again(
    webhook_livekit: LocalLiveKitServer, journal_url: str, receiver: WebhookReceiver, webhook_secret: str
) -> None:
    receiver.reply = lambda hit: Reply(hold=True) if hit.try_number == 1 else Reply()
    settings = webhook_settings(receiver.url, webhook_secret, APP_WEBHOOK_TIMEOUT_SECONDS="1")
    async with webhook_service(webhook_livekit, journal_url, settings) as service:
        _, room = await service.start_session()
        hits = await receiver.wait_for(lambda h: acknowledged(h, room) == [STARTED], what="the second try")
        first, second = [hit for hit in hits if hit.room_name == room]
        assert second.at - first.at >= 1.0  # APP_WEBHOOK_TIMEOUT_SECONDS=1 passed first
        assert await service.metric(RETRIED, type=STARTED) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_429_and_5xx_wait_for_their_retry_after(
    service: WebhookService, receiver: WebhookReceiver, status: int
) -> None:
    receiver.reply = lambda hit: Reply(status, {"Retry-After": "2"}) if hit.try_number == 1 else Reply()
    _, room = await service.start_session()
    hits = await receiver.wait_for(lambda h: acknowledged(h, room) == [STARTED], what="the second try")
    first, second = [hit for hit in hits if hit.room_name == room]
    assert second.at - first.at >= 2.0  # not the schedule's 0.2 s


async def test_a_redirect_is_not_followed(service: WebhookService, receiver: WebhookReceiver) -> None:
    receiver.reply = lambda hit: Reply(307, {"Location": REDIRECT_TARGET}) if hit.try_number == 1 else Reply()
    _, room = await service.start_session()
    hits = await receiver.wait_for(lambda h: acknowledged(h, room) == [STARTED], what="the second try")
    assert [hit.path for hit in hits] == [hits[0].path, hits[0].path]
    assert REDIRECT_TARGET not in {hit.path for hit in hits}


async def test_an_endless_answer_is_cut_short_and_counts_as_delivered(
    service: WebhookService, receiver: WebhookReceiver
) -> None:
    receiver.reply = lambda _: Reply(200, endless_body=True)
    await service.start_session()
    await service.wait_for_metric(DELIVERED, lambda v: v == 1, type=STARTED)
    assert len(receiver.hits) == 1  # not timed out reading it, so not sent again


async def test_410_disables_the_endpoint_until_it_is_enabled(
    service: WebhookService, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    gone: list[str] = []

    def reply(hit: Hit) -> Reply:
        if not gone:
            gone.append(hit.webhook_id)
            return Reply(410)
        return Reply()

    receiver.reply = reply
    _, first = await service.start_session()
    await service.wait_for_metric("voicecore_app_webhook_disabled_total", lambda v: v == 1)
    assert any(
        r.levelno == logging.ERROR and "410 Gone" in r.getMessage() and "webhooks enable" in r.getMessage()
        for r in caplog.records
    )
    _, second = await service.start_session()
    # The loop counts its backlog after that commit: both events wait, none was sent.
    await service.wait_for_metric("voicecore_app_events_pending", lambda v: v == 2)
    assert await service.metric("voicecore_app_webhook_endpoint_disabled") == 1
    assert len(receiver.hits) == 1
    assert await service.container.event_outbox().enable_endpoint() is True
    hits = await receiver.wait_for(lambda h: len([x for x in h if x.acknowledged]) == 2, what="both sent")
    assert [hit.room_name for hit in hits] == [first, first, second]


async def test_an_event_is_dead_after_its_last_try_and_replay_sends_it_again(
    service: WebhookService, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    failing = {"yes"}
    receiver.reply = lambda hit: Reply(500) if hit.type == STARTED and failing else Reply()
    user, room = await service.start_session()
    await service.end_session(user, room)
    await service.wait_for_metric(DEAD, lambda v: v == 1, type=STARTED)
    hits = await receiver.wait_for(
        lambda h: acknowledged(h, room) == [ENDED], what="the end, after the dead start"
    )
    dead_id = hits[0].webhook_id
    assert len(receiver.hits_of(dead_id)) == TRIES
    assert any(
        r.levelno == logging.ERROR and dead_id in r.getMessage() and "dead" in r.getMessage()
        for r in caplog.records
    )
    failing.clear()
    outbox = service.container.event_outbox()
    assert await outbox.replay(datetime.now(UTC), since=None, event_id=dead_id) == 1
    await receiver.wait_for(lambda h: acknowledged(h, room) == [ENDED, STARTED], what="the replayed start")


async def test_down_for_every_try_but_the_last_then_everything_arrives_in_order(
    webhook_livekit: LocalLiveKitServer, journal_url: str, receiver: WebhookReceiver, webhook_secret: str
) -> None:
    # The last delay is long enough to bring the receiver back once the others have failed.
    schedule = "0,0.2,0.2,0.2,4"
    settings = webhook_settings(receiver.url, webhook_secret, APP_WEBHOOK_RETRY_SCHEDULE_SECONDS=schedule)
    receiver.stop()
    async with webhook_service(webhook_livekit, journal_url, settings) as service:
        sessions = [await service.start_session() for _ in range(4)]
        for user, room in sessions:
            await service.end_session(user, room)
        await service.wait_for_metric(
            RETRIED, lambda v: v == 4 * 4, type=STARTED
        )  # each start: 4 failed tries
        receiver.start()
        hits = await receiver.wait_for(lambda h: len([x for x in h if x.acknowledged]) == 8, what="all eight")
        for _, room in sessions:
            assert acknowledged(hits, room) == [STARTED, ENDED]
        assert [hit.try_number for hit in hits] == [1] * 8  # the receiver saw only what it took
        assert await service.metric(DEAD, type=STARTED) == 0
