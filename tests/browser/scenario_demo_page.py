"""The demo page, in a real browser, against the real service, LiveKit server and agent worker.

Run only through ``tests.support.browser.netns.run_isolated`` (tests/browser/test_demo_page.py): the
server, the agent worker, the service (``python -m voicecore_http`` with ``DEMO_PAGE=1`` and the
worker's agent name), a stand-in for another site and chromium all live in that private network
namespace.

Headless chromium opens ``/demo/`` as served by the service, through a hostile link: its query
names the stand-in site as the API (``?api=``) and its fragment carries another account's token
(``#token=``). Then it does what a user does: signs in with a dev bearer token, starts a session
(the page's ``TokenSource.endpoint`` call to ``/connection-details``), joins with the fake
microphone, waits for the agent and its audio, reloads (the page rejoins through
``POST /{room}/token``) and ends the session, whose record then says ``user_ended``. The service
bounds nothing here (no length cap, no allowance): the page says "no limit" and "none";
tests/browser/scenario_demo_bounds.py has a service that does.

At each step the scenario reads the page's status fields and recent sessions, asks LiveKit's
RoomService what it sees, and reads the page's inbound audio from getStats (through
``pages/demo_page_probe.js``). Throughout, it keeps every CSP violation the page reports, every
request and WebSocket the page opens, and every request the stand-in site receives.
``OUT/result.json`` records all of it, with how long each step took;
``OUT/demo-session-with-agent.png`` is the joined page with its agent; logs land beside them on
failure.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from livekit import api
from playwright.async_api import Page, expect

from tests.browser.recording_site import RecordingSite, recording_site
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
# The account a hostile sign-in link would sign the tab into.
LINK_USER_ID = "someone-elses-account"
PROBE = Path(__file__).resolve().parent / "pages" / "demo_page_probe.js"
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
    "agent-audio",
    "disconnect-reason",
    "end-reason",
    "error",
)
# The session's countdown and the user's minutes (GET /usage), by data-testid: text fields, and
# <time> elements whose datetime attribute is the API's moment.
BOUNDS_FIELDS = ("ends-in", "usage-used", "usage-allowance", "usage-live")
BOUNDS_MOMENTS = ("ends-at", "usage-resets")
SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options")
CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d\d)")


async def page_status(page: Page) -> dict[str, str]:
    return {name: (await page.get_by_test_id(name).text_content() or "") for name in STATUS_FIELDS}


async def bounds_shown(page: Page) -> dict[str, Any]:
    """The page's countdown to ``ends_at`` and the user's minutes: each field's text, and each
    moment's text and ``datetime``."""
    shown: dict[str, Any] = {
        name: (await page.get_by_test_id(name).text_content() or "") for name in BOUNDS_FIELDS
    }
    for name in BOUNDS_MOMENTS:
        moment = page.get_by_test_id(name)
        shown[name] = {
            "text": await moment.text_content() or "",
            "datetime": await moment.get_attribute("datetime") or "",
        }
    return shown


def clock_seconds(text: str) -> int:
    """The seconds of the page's ``h:mm:ss`` or ``m:ss``; ValueError for anything else."""
    found = CLOCK.fullmatch(text)
    if found is None:
        raise ValueError(f"not a clock: {text!r}")
    hours, minutes, seconds = found.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


async def recent_sessions(page: Page) -> list[dict[str, Any]]:
    """The page's list of recent sessions, newest first: each row's room, end reason and cells."""
    rows = page.get_by_test_id("history-row")
    return [
        {
            "room": await row.get_attribute("data-room") or "",
            "end_reason": await row.get_attribute("data-end-reason") or "",
            "cells": await row.locator("td").all_text_contents(),
        }
        for row in await rows.all()
    ]


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


async def audio_played(page: Page) -> dict[str, Any]:
    """Watch from before the agent's audio can start (the agent plays a short tone to each new
    listener) until it arrives and is played: an inbound audio stream with an audio level above
    zero and energy in it, whose track an unpaused, unmuted <audio> element plays. Returns the
    participant that element plays, the highest level seen and the last reading."""
    highest_level = 0.0

    async def reading() -> dict[str, Any]:
        nonlocal highest_level
        inbound = await page.evaluate("window.voicecoreProbe.inboundAudio()")
        elements = await page.evaluate("window.voicecoreProbe.audioElements()")
        playing = {
            track: element["participant"]
            for element in elements
            if not element["paused"] and not element["muted"]
            for track in element["tracks"]
        }
        played = [stream for stream in inbound if stream["trackIdentifier"] in playing]
        highest_level = max([highest_level, *(stream["audioLevel"] for stream in played)])
        return {
            "participants": sorted({playing[stream["trackIdentifier"]] for stream in played}),
            "highest_level": highest_level,
            "played": played,
            "inbound": inbound,
            "elements": elements,
        }

    return await eventually(
        reading,
        lambda found: (
            found["highest_level"] > 0 and any(stream["totalAudioEnergy"] > 0 for stream in found["played"])
        ),
        what="the page to play an inbound audio stream with a level above zero",
        within=STEP_TIMEOUT_MS / 1000,
        every=0.05,
    )


async def silence(page: Page) -> None:
    """Wait until the agent's tone has ended (every inbound audio level back at zero), so that
    what the page hears next is new audio."""
    await eventually(
        lambda: page.evaluate("window.voicecoreProbe.inboundAudio()"),
        lambda inbound: bool(inbound) and all(stream["audioLevel"] == 0 for stream in inbound),
        what="the agent's tone to end (every inbound audio level at zero)",
        within=STEP_TIMEOUT_MS / 1000,
        every=0.05,
    )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def use_the_demo_page(
    server: LocalLiveKitServer, service: ServiceProcess, elsewhere: RecordingSite, out: Path, watch: Stopwatch
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    violations: list[dict[str, Any]] = []
    requested: list[str] = []
    async with (
        chromium_page(console_log=out / CONSOLE_LOG) as page,
        api.LiveKitAPI(server.url, server.api_key, server.api_secret) as lk,
    ):
        await page.expose_binding("reportCspViolation", lambda _source, found: violations.append(found))
        await page.add_init_script(path=PROBE)
        page.on("request", lambda request: requested.append(request.url))
        page.on("websocket", lambda socket: requested.append(socket.url))

        # A hostile link: another site as the API, and another account's token in the fragment.
        hostile = f"{service.base_url}/demo/?api={quote(elsewhere.origin, safe='')}"
        response = await page.goto(f"{hostile}#token={bearer(LINK_USER_ID)}")
        assert response is not None
        result["page_headers"] = {name: response.headers.get(name) for name in SECURITY_HEADERS}
        await expect(page.get_by_test_id("sdk-version")).not_to_have_text("")
        result["sdk_version"] = await page.get_by_test_id("sdk-version").text_content()
        await expect(page.get_by_test_id("sign-in-notice")).not_to_have_text("")
        result["link"] = {
            "user": await page.get_by_test_id("user").text_content(),
            "notice": await page.get_by_test_id("sign-in-notice").text_content(),
            "kept_token": await page.evaluate("sessionStorage.getItem('voicecore.demo.token')"),
            "url_after": page.url,
            "start_disabled": await page.get_by_test_id("start").is_disabled(),
        }
        watch.lap("page loaded through the hostile link")

        await page.get_by_test_id("token-input").fill(bearer(USER_ID))
        await page.get_by_test_id("sign-in").click()
        await expect(page.get_by_test_id("user")).to_have_text(USER_ID)
        await expect(page.get_by_test_id("usage-live")).not_to_have_text("")
        result["bounds_after_sign_in"] = await bounds_shown(page)
        result["token_input_after_sign_in"] = await page.get_by_test_id("token-input").input_value()
        result["notice_after_sign_in"] = await page.get_by_test_id("sign-in-notice").text_content()
        watch.lap("signed in")

        await page.get_by_test_id("start").click()
        hearing = asyncio.create_task(audio_played(page))
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
        heard = await hearing
        watch.lap("page plays the agent's audio")
        await expect(page.locator(f'[data-testid=history-row][data-room="{room}"]')).to_have_count(1)
        await expect(page.get_by_test_id("ends-in")).not_to_have_text("")
        await expect(page.get_by_test_id("usage-live")).to_have_text(re.compile(r"^1\b"))
        result["joined"] = {
            "publishing_sid": first.sid,
            "page": await page_status(page),
            "bounds": await bounds_shown(page),
            "server": await server_view(lk, room),
            "audio": heard,
            "recent_sessions": await recent_sessions(page),
        }
        await page.screenshot(path=out / SCREENSHOT, full_page=True)
        # The reloaded page must hear the agent anew, not the end of the tone it heard already.
        await silence(page)
        watch.lap("the agent's tone has ended")

        await page.reload()
        hearing = asyncio.create_task(audio_played(page))
        await expect(page.get_by_test_id("joined-via")).to_have_text("rejoin", timeout=STEP_TIMEOUT_MS)
        await joined_with_agent(page, "rejoin")
        watch.lap("reloaded page rejoined")
        again = await the_user_publishing(lk, room, replacing=first.sid)
        # Without a click in this document the browser may refuse to play sound: the page then
        # offers its button, which a user (here, the scenario) presses.
        await expect(page.get_by_test_id("agent-audio")).not_to_have_text("", timeout=STEP_TIMEOUT_MS)
        blocked_after_reload = await page.get_by_test_id("play-audio").is_visible()
        if blocked_after_reload:
            await page.get_by_test_id("play-audio").click()
        heard_again = await hearing
        watch.lap("reloaded page plays the agent's audio")
        result["rejoined"] = {
            "publishing_sid": again.sid,
            "page": await page_status(page),
            "server": await server_view(lk, room),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
            "audio_blocked_until_clicked": blocked_after_reload,
            "audio": heard_again,
        }

        await page.get_by_test_id("end").click()
        await expect(page.get_by_test_id("disconnect-reason")).to_have_text(
            "ROOM_DELETED", timeout=STEP_TIMEOUT_MS
        )
        await expect(page.get_by_test_id("end-reason")).to_have_text("user_ended", timeout=STEP_TIMEOUT_MS)
        ended_row = page.locator(f'[data-testid=history-row][data-room="{room}"]')
        await expect(ended_row).to_have_attribute("data-end-reason", "user_ended", timeout=STEP_TIMEOUT_MS)
        await expect(page.get_by_test_id("usage-live")).to_have_text(re.compile(r"^0\b"))
        watch.lap("ended, page disconnected, the record says why")
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
        result["ended"] = {
            "page": await page_status(page),
            "bounds": await bounds_shown(page),
            "end_button_disabled": await page.get_by_test_id("end").is_disabled(),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
            "rooms_left": [r.name for r in rooms.rooms],
            "recent_sessions": await recent_sessions(page),
            "audio_elements": await page.evaluate("window.voicecoreProbe.audioElements()"),
        }
        # Anything the page would still send (a late status poll, a retry) has had time to go.
        await asyncio.sleep(1)
        result["stand_in_site"] = {"origin": elsewhere.origin, "requests": list(elsewhere.requests)}
    result["csp_violations"] = violations
    result["origins_requested"] = sorted({origin_of(url) for url in requested})
    result["service_origin"] = service.base_url
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
                Path(workdir),
                server,
                DEMO_PAGE="1",
                LIVEKIT_AGENT_NAME=DEV_AGENT_NAME,
                SESSION_MAX_DURATION_SECONDS="0",  # no cap and no allowance: nothing bounds a session
            ) as service:
                watch.lap("service ready")
                with (
                    logs_kept_on_failure(out, server.log_path, worker.log_path, service.log_path),
                    recording_site() as elsewhere,
                ):
                    found = asyncio.run(use_the_demo_page(server, service, elsewhere, out, watch))
            found["livekit_url"] = server.url
            found["jwts_in_service_log"] = len(JWT.findall(service.log_text()))
            return found


def main(argv: list[str]) -> int:
    return run_scenario(argv, SCREENSHOT, steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
