"""The demo page in a real browser: refuse a hostile link, sign in, start, meet and hear the agent,
reload and rejoin, end, and see why the session ended in the recent sessions; on a service that
bounds nothing, the page shows no limit and the minutes used (test_demo_page_bounds.py has bounds).

Everything (LiveKit server, agent worker, the service with DEMO_PAGE=1, a stand-in for another
site, chromium) runs in a private network namespace; tests/browser/scenario_demo_page.py drives
it and this test reads what it recorded.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.scenario_demo_page import CONSOLE_LOG, JWT, SCREENSHOT, USER_ID, clock_seconds
from tests.support.browser.netns import run_isolated
from voicecore_http.demo_page import livekit_origins

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "demo-page"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A blank or broken page compresses to a few KiB; the joined page with its status is far larger.
SCREENSHOT_MIN_BYTES = 20_000


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def first_of_next_month() -> datetime:
    today = datetime.now(UTC).date()
    return datetime(today.year + today.month // 12, today.month % 12 + 1, 1, tzinfo=UTC)


def only_browser_publishing(server: dict[str, Any]) -> dict[str, Any]:
    """The one participant with the user's identity, which must publish its microphone."""
    users = [p for p in server["participants"] if p["identity"] == USER_ID]
    assert len(users) == 1, server
    assert users[0]["kind"] == "STANDARD"
    assert {"type": "AUDIO", "source": "MICROPHONE"} in users[0]["tracks"]
    return users[0]


def agent_heard(audio: dict[str, Any], agent: str) -> bool:
    """The page played ``agent``'s audio, and getStats saw it arrive: an inbound stream that an
    unpaused <audio> element of the agent's played, with an audio level above zero and energy."""
    return (
        audio["participants"] == [agent]
        and audio["highest_level"] > 0
        and any(stream["totalAudioEnergy"] > 0 for stream in audio["played"])
    )


@pytest.mark.browser
def test_the_demo_page_starts_joins_meets_the_agent_rejoins_after_a_reload_and_ends() -> None:
    started = time.monotonic()
    run = run_isolated(
        "tests.browser.scenario_demo_page", [str(ARTIFACTS)], dns_log=ARTIFACTS / "dns.json", timeout=240
    )
    elapsed = time.monotonic() - started
    result = json.loads((ARTIFACTS / "result.json").read_text())
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr[-4000:]}"
    assert result["ok"]
    room = result["room"]
    assert room

    # Served by the real server with its security headers, the page ran under them without one
    # Content-Security-Policy violation, in any document (the reload included).
    headers = result["page_headers"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert result["csp_violations"] == []

    # The hostile link (?api= naming another site, #token= another account) signed nobody in:
    # the page said so, kept no token and took the token out of the address bar.
    link = result["link"]
    assert link["user"] == "(not signed in)"
    assert link["notice"]
    assert link["kept_token"] is None
    assert "#" not in link["url_after"]
    assert "token" not in link["url_after"]
    assert link["start_disabled"] is True

    # Signed in, the page keeps the bearer token in sessionStorage, not on screen.
    assert result["token_input_after_sign_in"] == ""
    assert result["notice_after_sign_in"] == ""
    # and shows the user's minutes: nothing used, no allowance on this service, none live, and
    # the monthly period's end (USAGE_PERIOD's default) as a moment with a zone.
    minutes = result["bounds_after_sign_in"]
    assert (minutes["usage-used"], minutes["usage-allowance"], minutes["usage-live"]) == (
        "0:00",
        "none",
        "0 of 3",
    )
    assert minutes["usage-resets"]["text"]
    assert moment(minutes["usage-resets"]["datetime"]) == first_of_next_month()
    assert minutes["ends-in"] == ""  # no session yet

    # Joined through TokenSource.endpoint: LiveKit has the browser publishing and one agent;
    # the page shows the same room, the agent among the others, and the API's count of both.
    joined = result["joined"]
    browser = only_browser_publishing(joined["server"])
    assert browser["sid"] == joined["publishing_sid"]
    assert len(joined["server"]["agents"]) == 1
    agent = joined["server"]["agents"][0]
    assert joined["page"] == {
        "user": USER_ID,
        "connection-state": "connected",
        "joined-via": "TokenSource.endpoint",
        "room-name": room,
        "microphone": "on",
        "participant-count": "2",
        "agent-connected": "yes",
        "remote-participants": f"{agent} (agent)",
        "agent-audio": "playing",
        "disconnect-reason": "",
        "end-reason": "",
        "error": "",
    }
    # The agent's audio arrived and the page played it: getStats shows the stream that the
    # agent's <audio> element plays with an audio level above zero and energy in it.
    assert agent_heard(joined["audio"], agent), joined["audio"]
    # Nothing bounds a session on this service (no length cap, no allowance): no countdown but
    # "no limit", and no moment it ends; one session live.
    assert joined["bounds"]["ends-in"] == "no limit"
    assert joined["bounds"]["ends-at"] == {"text": "", "datetime": ""}
    assert joined["bounds"]["usage-allowance"] == "none"
    assert joined["bounds"]["usage-live"] == "1 of 3"
    # The new session heads the recent sessions, live.
    assert joined["recent_sessions"][0]["room"] == room
    assert joined["recent_sessions"][0]["end_reason"] == ""
    assert joined["recent_sessions"][0]["cells"][-1] == "live"

    # The reload came back to the same room through the rejoin path, as a new connection that
    # replaced the old one; the agent stayed, and no second one was dispatched.
    rejoined = result["rejoined"]
    again = only_browser_publishing(rejoined["server"])
    assert again["sid"] == rejoined["publishing_sid"] != browser["sid"]
    assert rejoined["server"]["agents"] == [agent]
    assert rejoined["kept_room"] == room
    assert rejoined["page"]["joined-via"] == "rejoin"
    assert rejoined["page"]["room-name"] == room
    assert rejoined["page"]["remote-participants"] == f"{agent} (agent)"
    assert rejoined["page"]["participant-count"] == "2"
    assert rejoined["page"]["agent-audio"] == "playing"
    assert rejoined["page"]["error"] == ""
    # Heard anew: the scenario waited for the first tone to end before it reloaded.
    assert agent_heard(rejoined["audio"], agent), rejoined["audio"]

    # End in the page deleted the room: LiveKit disconnected the page, which forgot the room.
    ended = result["ended"]
    assert ended["rooms_left"] == []
    assert ended["page"]["connection-state"] == "disconnected"
    assert ended["page"]["disconnect-reason"] == "ROOM_DELETED"
    assert ended["page"]["microphone"] == "off"
    assert ended["page"]["remote-participants"] == ""
    assert ended["page"]["error"] == ""
    assert ended["kept_room"] is None
    assert ended["end_button_disabled"] is True
    assert ended["audio_elements"] == []
    # Why it ended, read from the session's record, in the status and in the recent sessions.
    assert ended["page"]["end-reason"] == "user_ended"
    [ended_row] = [row for row in ended["recent_sessions"] if row["room"] == room]
    assert ended_row["end_reason"] == "user_ended"
    assert ended_row["cells"][-1] == "user_ended"
    # The minutes, read again at the end, count the session's time (whole seconds on both sides);
    # no countdown is left.
    assert ended["bounds"]["usage-live"] == "0 of 3"
    assert clock_seconds(ended["bounds"]["usage-used"]) >= max(1, int(ended_row["cells"][3]) - 1)
    assert ended["bounds"]["ends-in"] == ""

    # Nothing reached the other site, on load, sign-in, Start, reload or End; the page opened
    # connections to its own origin and to the LiveKit server the service names, nothing else.
    assert result["stand_in_site"]["requests"] == []
    allowed = {result["service_origin"], *livekit_origins(result["livekit_url"])}
    assert set(result["origins_requested"]) <= allowed, result["origins_requested"]
    assert result["service_origin"] in result["origins_requested"]

    # Neither the service's log nor the page's console carries a bearer or join token.
    assert result["jwts_in_service_log"] == 0
    assert JWT.findall((ARTIFACTS / CONSOLE_LOG).read_text()) == []

    # Nothing in the namespace (server, worker, service, browser) tried to look up any host.
    assert json.loads((ARTIFACTS / "dns.json").read_text()) == []
    screenshot = (ARTIFACTS / SCREENSHOT).read_bytes()
    assert screenshot.startswith(PNG_SIGNATURE)
    assert len(screenshot) > SCREENSHOT_MIN_BYTES
    print(f"demo page scenario: {elapsed:.1f}s in all; steps {result['seconds']}")
