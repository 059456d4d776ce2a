"""A user joins a voice session from a real browser, and the coach agent joins them.

Run only through ``tests.support.browser.netns.run_isolated`` (tests/browser/test_browser_join.py):
everything here, server and worker included, lives in that private network namespace.

voicecore starts the session (room created with an explicit dispatch of the development agent,
token minted by LiveKitTokenIssuer); headless chromium opens pages/join.html, joins with that
token and publishes its fake microphone. Success means: RoomService lists the browser's
participant publishing a microphone track, the page lists the agent, and the page has received
the agent's audio. ``OUT/result.json`` says what was seen and how long each step took;
``OUT/join-with-agent.png`` is the page at the end; logs land beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from livekit import api

from tests.support.agent_worker import DEV_AGENT_NAME, running_agent_worker
from tests.support.browser.chromium import chromium_page
from tests.support.browser.scenario_runner import Stopwatch, logs_kept_on_failure, run_scenario
from tests.support.browser.static_site import LIVEKIT_CLIENT_DIST, serving_static
from tests.support.journals import sqlite_recorder
from tests.support.waiting import eventually
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.core.domain import SessionPolicy, User
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.livekit_server import LocalLiveKitServer, running_livekit_server

SCREENSHOT = "join-with-agent.png"
# The stand-in page this scenario drives (pages/join.html).
PAGES = Path(__file__).resolve().parent / "pages"
STEP_TIMEOUT_MS = 20_000  # the agent starter's client gives up on an agent after this long


async def participant_publishing_audio(
    lk: api.LiveKitAPI, room: str, identity: str, *, within: float
) -> api.ParticipantInfo:
    async def publishing() -> list[api.ParticipantInfo]:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        return [
            p
            for p in listed.participants
            if p.identity == identity and any(t.type == api.TrackType.AUDIO for t in p.tracks)
        ]

    [participant] = await eventually(
        publishing, bool, what=f"RoomService to list {identity} publishing audio", within=within
    )
    return participant


async def join_from_the_browser(
    server: LocalLiveKitServer, site: str, out: Path, watch: Stopwatch
) -> dict[str, Any]:
    gateway = LiveKitRoomGateway(server.url, server.api_key, server.api_secret, timeout_seconds=5)
    await gateway.open()
    journal = contextlib.AsyncExitStack()
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(server.api_key, server.api_secret, server_url=server.url),
        SessionPolicy(agent_name=DEV_AGENT_NAME),
        store=InProcessSessionStore(),
        recorder=await journal.enter_async_context(sqlite_recorder()),
    )
    try:
        user = User(id="browser-user")
        started = await sessions.start(user)
        watch.lap("session started")
        async with (
            chromium_page(console_log=out / "console.log") as page,
            api.LiveKitAPI(server.url, server.api_key, server.api_secret) as lk,
        ):
            await page.goto(f"{site}/join.html")
            watch.lap("page loaded")
            joined = await page.evaluate(
                "([url, token]) => window.voicecoreJoin(url, token)", [server.url, started.token]
            )
            watch.lap("browser joined")
            seen = await participant_publishing_audio(
                lk, started.room_name, joined["identity"], within=STEP_TIMEOUT_MS / 1000
            )
            watch.lap("server sees the browser's microphone")
            await page.wait_for_selector(
                'li[data-kind="agent"][data-audio="subscribed"]', timeout=STEP_TIMEOUT_MS
            )
            watch.lap("page shows the agent")
            await page.wait_for_function(
                "async () => (await window.voicecoreAgentAudioBytes()) > 0", timeout=STEP_TIMEOUT_MS
            )
            watch.lap("page received the agent's audio")
            listed = await page.eval_on_selector_all(
                "#participants li", "items => items.map(item => ({...item.dataset}))"
            )
            await page.screenshot(path=out / SCREENSHOT, full_page=True)
            status = await sessions.status(user, started.room_name)
            agent_audio_bytes = await page.evaluate("window.voicecoreAgentAudioBytes()")
            # Ending the session deletes the room: the page is told, and the agent's job ends.
            await sessions.end(user, started.room_name)
            await page.wait_for_selector("#status:text('disconnected')", timeout=STEP_TIMEOUT_MS)
            watch.lap("session ended, page disconnected")
            return {
                "room": started.room_name,
                "joined": joined,
                "server_view": {
                    "identity": seen.identity,
                    "kind": api.ParticipantInfo.Kind.Name(seen.kind),
                    "tracks": [
                        {"type": api.TrackType.Name(t.type), "source": api.TrackSource.Name(t.source)}
                        for t in seen.tracks
                    ],
                },
                "page_participants": listed,
                "agent_audio_bytes": agent_audio_bytes,
                "voicecore_status": {
                    "participant_count": status.participant_count,
                    "agent_connected": status.agent_connected,
                },
                "page_status_after_end": await page.text_content("#status"),
            }
    finally:
        await sessions.aclose()
        await journal.aclose()
        await gateway.aclose()


def steps(out: Path, watch: Stopwatch) -> dict[str, Any]:
    with running_livekit_server() as server:
        watch.lap("server ready")
        with (
            running_agent_worker(server) as worker,
            logs_kept_on_failure(out, server.log_path, worker.log_path),
        ):
            watch.lap("agent worker registered")
            with serving_static({"/": PAGES, "/vendor/livekit-client/": LIVEKIT_CLIENT_DIST}) as site:
                return asyncio.run(join_from_the_browser(server, site, out, watch))


def main(argv: list[str]) -> int:
    return run_scenario(argv, SCREENSHOT, steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
