"""forget_user and app webhooks, both databases, real LiveKit: nothing about the user is sent afterwards.

The user's undelivered events are dropped. A send of theirs under way when the
erasure comes is waited for (a row lock on PostgreSQL, this process on SQLite):
when ``forget_user`` returns it has ended, and no other can start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.journals import stored_events
from tests.support.livekit import unique_user_id
from tests.support.outboxes import erasure_waits_for_a_send
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Hit, Reply, WebhookReceiver
from tests.support.webhook_service import WebhookService, webhook_service, webhook_settings
from voicecore.testing.livekit_server import LocalLiveKitServer

pytestmark = pytest.mark.livekit


@pytest.fixture
async def service(
    webhook_livekit: LocalLiveKitServer, journal_url: str, receiver: WebhookReceiver, webhook_secret: str
) -> AsyncIterator[WebhookService]:
    settings = webhook_settings(receiver.url, webhook_secret, APP_WEBHOOK_TIMEOUT_SECONDS="10")
    async with webhook_service(webhook_livekit, journal_url, settings) as started:
        yield started


async def test_a_forgotten_user_is_never_sent_again_even_with_a_send_under_way(
    service: WebhookService, receiver: WebhookReceiver, journal_url: str
) -> None:
    forgotten, kept = unique_user_id("forgotten"), unique_user_id("kept")
    held: list[str] = []

    def reply(hit: Hit) -> Reply:
        if hit.user_id != forgotten:
            return Reply()
        if not held or held == [hit.webhook_id]:
            held[:] = [hit.webhook_id]
            return Reply(hold=True)  # in flight when the erasure comes
        return Reply(500)  # undelivered, waiting for its next try

    receiver.reply = reply
    _, in_flight_room = await service.start_session(forgotten)
    await receiver.wait_for(lambda hits: bool(held), what="the send under way")
    _, retried_room = await service.start_session(forgotten)
    await receiver.wait_for(
        lambda hits: any(h.room_name == retried_room and h.reply.status == 500 for h in hits),
        what="an event of the user failing its first try",
    )

    forgetting = asyncio.create_task(service.container.sessions().forget_user(forgotten))

    async def erasure_waits() -> bool:
        assert not forgetting.done(), "forget_user returned while a send of the user's was under way"
        return await erasure_waits_for_a_send(journal_url, forgotten)

    await eventually(erasure_waits, bool, what="the erasure reaching the user's events", every=0.02)
    with pytest.raises(TimeoutError):  # it stays there while the send is under way
        await asyncio.wait_for(asyncio.shield(forgetting), 0.5)
    receiver.release()  # the send under way ends (its answer may or may not reach the sender)
    forgotten_report = await asyncio.wait_for(forgetting, 30)
    returned_at = time.monotonic()
    assert forgotten_report.records_erased == 2
    assert forgotten_report.undelivered_events_dropped >= 1
    for room in (in_flight_room, retried_room):
        assert await stored_events(journal_url, room) == []

    # Another user's events go out, and the loop has looked again and again since:
    # none of the forgotten user's is among what it sent after forget_user returned.
    _, kept_room = await service.start_session(kept)
    await receiver.wait_for(
        lambda hits: any(h.room_name == kept_room and h.acknowledged for h in hits),
        what="the kept user's event",
    )
    await service.wait_for_metric("voicecore_app_events_pending", lambda v: v == 0)
    late = [hit for hit in receiver.hits if hit.user_id == forgotten and hit.at > returned_at]
    assert late == []
