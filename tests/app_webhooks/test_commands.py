"""``python -m voicecore_http webhooks replay|enable``, run as an operator would, beside a running replica.

Both databases: on PostgreSQL the replica hears of the replay at once (NOTIFY);
on SQLite at its next look. Serving (``python -m voicecore_http --host --port``)
is what every service-process test starts, so it is proven everywhere else.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, service_environment
from tests.support.tokens import auth_header
from tests.support.webhook_receiver import Hit, Reply, WebhookReceiver
from tests.support.webhook_service import TRIES, delete_every_room, webhook_settings
from voicecore.testing.livekit_server import LocalLiveKitServer

pytestmark = pytest.mark.livekit


@pytest.fixture
async def replica(
    webhook_livekit: LocalLiveKitServer, journal_url: str, receiver: WebhookReceiver, webhook_secret: str
) -> AsyncIterator[ServiceProcess]:
    settings = service_environment(
        webhook_livekit, **webhook_settings(receiver.url, webhook_secret), JOURNAL_URL=journal_url
    )
    process = ServiceProcess(settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        await delete_every_room(webhook_livekit)


async def command(settings: Mapping[str, str], *arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicecore_http",
        *arguments,
        env=dict(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_replay_sends_a_dead_event_again_through_the_running_service(
    replica: ServiceProcess, receiver: WebhookReceiver
) -> None:
    user = unique_user_id("replayed")
    failing = {"yes"}
    receiver.reply = lambda hit: Reply(500) if hit.type == "session.started" and failing else Reply()
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            replica.base_url + BASE, json={"agent_type": "diet"}, headers=auth_header(user)
        )
        assert created.status_code == 201
        room = created.json()["room_name"]
        ended = await http.delete(f"{replica.base_url}{BASE}/{room}", headers=auth_header(user))
        assert ended.status_code == 200

    def sent(hits: list[Hit]) -> list[str]:
        return [hit.type for hit in hits if hit.acknowledged]

    # The end goes out only once the start is dead: after its last try.
    hits = await receiver.wait_for(
        lambda h: sent(h) == ["session.ended"], what="the end, after the dead start"
    )
    dead = hits[0]
    assert len(receiver.hits_of(dead.webhook_id)) == TRIES
    failing.clear()

    code, out, err = await command(replica.settings, "webhooks", "replay", "--since", "2999-01-01T00:00:00Z")
    assert (code, out.strip(), err) == (0, "0 dead app events are pending again; the service sends them", "")
    code, out, _ = await command(replica.settings, "webhooks", "replay", "--event-id", dead.webhook_id)
    assert (code, out.strip()) == (0, "1 dead app events are pending again; the service sends them")
    hits = await receiver.wait_for(
        lambda h: sent(h) == ["session.ended", "session.started"], what="the replay"
    )
    replayed = hits[-1]
    assert (replayed.webhook_id, replayed.verified, replayed.body) == (dead.webhook_id, True, dead.body)

    code, out, _ = await command(replica.settings, "webhooks", "enable")
    assert (code, out.strip()) == (0, "the app's webhook endpoint was not disabled")


async def test_the_commands_refuse_to_run_without_an_endpoint_or_with_a_bad_time(
    webhook_livekit: LocalLiveKitServer, tmp_path: Path
) -> None:
    settings = service_environment(webhook_livekit, JOURNAL_URL=f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    code, _, err = await command(settings, "webhooks", "replay")
    assert (code, err.strip()) == (2, "APP_WEBHOOK_URL is not set: no app events are kept or sent")
    code, _, err = await command(settings, "webhooks", "replay", "--since", "yesterday")
    assert code == 2
    assert "not an ISO 8601 time" in err
