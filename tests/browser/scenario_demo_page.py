"""The demo page, in a real browser, against the real service, LiveKit server and agent worker.

Run only through ``tests.support.browser.netns.run_isolated`` (tests/browser/test_demo_page.py): the
server, the agent worker, the service (``python -m voicecore_http`` with ``DEMO_PAGE=1`` and the
worker's agent name) and chromium all live in that private network namespace.

Headless chromium opens ``/demo/`` as served by the service and does what a user does: signs in
with a dev bearer token, starts a session (the page's ``TokenSource.endpoint`` call to
``/connection-details``), joins with the fake microphone, waits for the agent, reloads (the page
rejoins through ``POST /{room}/token``) and ends the session. At each step the scenario reads the
page's status fields and asks LiveKit's RoomService what it sees. ``OUT/result.json`` records
both, with how long each step took; ``OUT/demo-session-with-agent.png`` is the joined page with
its agent; logs land beside them on failure.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from livekit import api
from playwright.async_api import Page, expect

from tests.browser.scenario_join import STEP_TIMEOUT_MS
from tests.support.agent_worker import DEV_AGENT_NAME, agents_in, running_agent_worker
from tests.support.browser.chromium import chromium_page
from tests.support.browser.scenario_runner import Stopwatch, logs_kept_on_failure, run_scenario
from tests.support.service_process import ServiceProcess, running_service
from tests.support.tokens import bearer
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer, running_livekit_server

SCREENSHOT = "demo-session-with-agent.png"
CONSOLE_LOG = "console.log"
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]+")
USER_ID = "demo-page-user"
# The page's status fields, by data-testid.
STATUS_FIELDS = (
    "user",
    "connection-state",
    "joined-via",
    "room-name",
    "microphone",
    "participant-count",
    "agent-connected",
    "remote-participants",
    "disconnect-reason",
    "error",
)


async def page_status(page: Page) -> dict[str, str]:
    return {name: (await page.get_by_test_id(name).text_content() or "") for name in STATUS_FIELDS}


async def server_view(lk: api.LiveKitAPI, room: str) -> dict[str, Any]:
    """Who LiveKit has in ``room``: every participant's identity, kind, sid and tracks."""
    listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return {
        "participants": [
            {
                "identity": p.identity,
                "sid": p.sid,
                "kind": api.ParticipantInfo.Kind.Name(p.kind),
                "tracks": [
                    {"type": api.TrackType.Name(t.type), "source": api.TrackSource.Name(t.source)}
                    for t in p.tracks
                ],
            }
            for p in listed.participants
        ],
        "agents": [p.identity for p in agents_in(listed)],
    }


async def the_user_publishing(
    lk: api.LiveKitAPI, room: str, *, replacing: str | None = None
) -> api.ParticipantInfo:
    """The user's one connection in ``room`` once it publishes audio; after a reload, the one
    that replaced the connection ``replacing`` (the old one may linger for a moment)."""

    async def users() -> list[api.ParticipantInfo]:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        return [p for p in listed.participants if p.identity == USER_ID]

    [user] = await eventually(
        users,
        lambda found: (
            len(found) == 1
            and found[0].sid != replacing
            and any(t.type == api.TrackType.AUDIO for t in found[0].tracks)
        ),
        what=f"RoomService to list one connection of {USER_ID} publishing audio"
        + (f", not {replacing}" if replacing else ""),
        within=STEP_TIMEOUT_MS / 1000,
    )
    return user


async def joined_with_agent(page: Page, via: str) -> None:
    """The page is connected through ``via``, its microphone on, and shows the agent: in the room
    (a remote participant marked as agent) and in the API's status (counted, agent connected)."""
    await expect(page.get_by_test_id("connection-state")).to_have_text("connected", timeout=STEP_TIMEOUT_MS)
    await expect(page.get_by_test_id("joined-via")).to_have_text(via)
    await expect(page.get_by_test_id("microphone")).to_have_text("on", timeout=STEP_TIMEOUT_MS)
    await expect(page.get_by_test_id("remote-participants")).to_contain_text(
        "(agent)", timeout=STEP_TIMEOUT_MS
    )
    await expect(page.get_by_test_id("participant-count")).to_have_text("2", timeout=STEP_TIMEOUT_MS)
    await expect(page.get_by_test_id("agent-connected")).to_have_text("yes", timeout=STEP_TIMEOUT_MS)


async def use_the_demo_page(
    server: LocalLiveKitServer, service: ServiceProcess, out: Path, watch: Stopwatch
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with (
        chromium_page(console_log=out / CONSOLE_LOG) as page,
        api.LiveKitAPI(server.url, server.api_key, server.api_secret) as lk,
    ):
        await page.goto(f"{service.base_url}/demo/")
        await expect(page.get_by_test_id("sdk-version")).not_to_have_text("")
        result["sdk_version"] = await page.get_by_test_id("sdk-version").text_content()
        watch.lap("page loaded")

        await page.get_by_test_id("token-input").fill(bearer(USER_ID))
        await page.get_by_test_id("sign-in").click()
        await expect(page.get_by_test_id("user")).to_have_text(USER_ID)
        result["token_input_after_sign_in"] = await page.get_by_test_id("token-input").input_value()
        watch.lap("signed in")

        await page.get_by_test_id("start").click()
        await expect(page.get_by_test_id("connection-state")).to_have_text(
            "connected", timeout=STEP_TIMEOUT_MS
        )
        room = await page.get_by_test_id("room-name").text_content() or ""
        result["room"] = room
        watch.lap("browser joined through TokenSource.endpoint")
        first = await the_user_publishing(lk, room)
        watch.lap("server sees the browser's microphone")
        await joined_with_agent(page, "TokenSource.endpoint")
        watch.lap("page shows the agent")
        result["joined"] = {
            "publishing_sid": first.sid,
            "page": await page_status(page),
            "server": await server_view(lk, room),
        }
        await page.screenshot(path=out / SCREENSHOT, full_page=True)

        await page.reload()
        await expect(page.get_by_test_id("joined-via")).to_have_text("rejoin", timeout=STEP_TIMEOUT_MS)
        await joined_with_agent(page, "rejoin")
        watch.lap("reloaded page rejoined")
        again = await the_user_publishing(lk, room, replacing=first.sid)
        result["rejoined"] = {
            "publishing_sid": again.sid,
            "page": await page_status(page),
            "server": await server_view(lk, room),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
        }

        await page.get_by_test_id("end").click()
        await expect(page.get_by_test_id("disconnect-reason")).to_have_text(
            "ROOM_DELETED", timeout=STEP_TIMEOUT_MS
        )
        watch.lap("ended, page disconnected")
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
        result["ended"] = {
            "page": await page_status(page),
            "end_button_disabled": await page.get_by_test_id("end").is_disabled(),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
            "rooms_left": [r.name for r in rooms.rooms],
        }
    return result


def steps(out: Path, watch: Stopwatch) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="demo-service-") as workdir,
        running_livekit_server() as server,
    ):
        watch.lap("server ready")
        with running_agent_worker(server) as worker:
            watch.lap("agent worker registered")
            with running_service(
                Path(workdir), server, DEMO_PAGE="1", LIVEKIT_AGENT_NAME=DEV_AGENT_NAME
            ) as service:
                watch.lap("service ready")
                with logs_kept_on_failure(out, server.log_path, worker.log_path, service.log_path):
                    found = asyncio.run(use_the_demo_page(server, service, out, watch))
            found["jwts_in_service_log"] = len(JWT.findall(service.log_text()))
            return found


def main(argv: list[str]) -> int:
    return run_scenario(argv, SCREENSHOT, steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
