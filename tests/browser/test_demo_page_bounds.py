"""The demo page's bounds in a real browser: a countdown to ``ends_at`` that goes down, the user's
minutes, the server's cut at the length cap seen as ``ROOM_DELETED`` and then ``max_duration``
from the record, and a start refused with 402 that says when the minutes come back.

Everything (LiveKit server, the service with DEMO_PAGE=1 and short bounds, chromium) runs in a
private network namespace; tests/browser/scenario_demo_bounds.py drives it and this test reads
what it recorded.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.scenario_demo_bounds import (
    BROKE_USER_ID,
    CAP_SECONDS,
    SCREENSHOT,
    USAGE_LIMIT_MINUTES,
)
from tests.browser.scenario_demo_page import CONSOLE_LOG, JWT, clock_seconds
from tests.support.browser.netns import run_isolated
from voicecore_http.demo_page import livekit_origins

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "demo-bounds"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The service's contract: a room is gone at most this long after its deadline.
ON_TIME = timedelta(seconds=5)
# The page's clocks are whole seconds, its countdown rounded up: a reading may be off by one.
ONE_TICK = 1


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def countdown_true_to(reading: dict[str, Any], ends_at: datetime) -> bool:
    """The countdown read at ``read_at`` showed the seconds left until ``ends_at``.

    It may show more than what is left when read: it rounds up (a second), it was drawn at
    its last tick (up to a tick before), and ``read_at`` is taken just after the page is
    read (a loaded machine delays that by up to a second more). Never less than a tick under.
    """
    left = (ends_at - moment(reading["read_at"])).total_seconds()
    return bool(left - ONE_TICK <= reading["seconds"] <= left + 3 * ONE_TICK)


@pytest.mark.browser
def test_the_demo_page_counts_down_shows_the_minutes_the_cut_and_a_start_refused_for_want_of_them() -> None:
    started = time.monotonic()
    run = run_isolated(
        "tests.browser.scenario_demo_bounds", [str(ARTIFACTS)], dns_log=ARTIFACTS / "dns.json", timeout=180
    )
    elapsed = time.monotonic() - started
    result = json.loads((ARTIFACTS / "result.json").read_text())
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr[-4000:]}"
    assert result["ok"]
    room = result["room"]
    allowance = USAGE_LIMIT_MINUTES * 60

    # Signed in: nothing used of the minute a day, none live, resetting at the day's end (UTC).
    signed_in = result["signed_in"]
    shown = signed_in["bounds"]
    assert shown["ends-in"] == ""  # no session yet
    assert shown["usage-used"] == "0:00"
    assert shown["usage-allowance"] == "1:00 a day, 1:00 left"
    assert shown["usage-live"] == "0 of 3"
    assert signed_in["usage"]["period"] == "day"
    assert shown["usage-resets"]["datetime"] == signed_in["usage"]["period_end"]
    assert shown["usage-resets"]["text"]

    # Joined: the page shows the API's ends_at (the length cap from the start) and counts down to
    # it, truly: each reading is the seconds left at the moment it was read, and they go down.
    joined = result["joined"]
    status = joined["status"]
    ends_at = moment(status["ends_at"])
    assert ends_at == moment(status["created_at"]) + timedelta(seconds=CAP_SECONDS)
    assert joined["page"]["connection-state"] == "connected"
    assert joined["bounds"]["ends-at"]["datetime"] == status["ends_at"]
    assert joined["bounds"]["ends-at"]["text"]
    first, later = joined["countdown"]
    assert 0 < later["seconds"] < first["seconds"] <= CAP_SECONDS
    assert countdown_true_to(first, ends_at), (first, status["ends_at"])
    assert countdown_true_to(later, ends_at), (later, status["ends_at"])
    assert joined["bounds"]["usage-live"] == "1 of 3"
    assert joined["usage"]["live_sessions"] == 1

    # The cut: the server deleted the room at its deadline (on time, by the record), and the page,
    # connected until then, was told ROOM_DELETED and read max_duration from the record; the
    # countdown is gone, the session listed as cut.
    cut = result["cut"]
    record = cut["record"]
    assert record["end_reason"] == "max_duration"
    assert ends_at <= moment(record["ended_at"]) <= ends_at + ON_TIME
    assert moment(cut["seen_at"]) >= ends_at
    assert cut["page"]["connection-state"] == "disconnected"
    assert cut["page"]["disconnect-reason"] == "ROOM_DELETED"
    assert cut["page"]["end-reason"] == "max_duration"
    assert cut["page"]["microphone"] == "off"
    assert cut["page"]["error"] == ""
    assert cut["kept_room"] is None
    assert cut["end_button_disabled"] is True
    assert cut["bounds"]["ends-in"] == ""
    assert cut["bounds"]["ends-at"] == {"text": "", "datetime": ""}
    [cut_row] = [row for row in cut["recent_sessions"] if row["room"] == room]
    assert cut_row["end_reason"] == "max_duration"
    assert cut_row["cells"][-1] == "max_duration"
    # The minutes, read again once the record says why: the cut session's time, as the API says.
    used = cut["usage"]["used_seconds"]
    assert CAP_SECONDS <= used <= CAP_SECONDS + ON_TIME.total_seconds()
    assert abs(clock_seconds(cut["bounds"]["usage-used"]) - used) <= ONE_TICK
    assert cut["bounds"]["usage-allowance"].startswith("1:00 a day, ")
    left = clock_seconds(cut["bounds"]["usage-allowance"].removeprefix("1:00 a day, ").removesuffix(" left"))
    assert abs(left - (allowance - used)) <= ONE_TICK
    assert cut["bounds"]["usage-live"] == "0 of 3"

    # A user with no minutes presses Start: the service answered 402 with Retry-After, and the page
    # says so, with when the minutes come back (the moment its usage shows, the period's end, the
    # moment Retry-After counts to); nothing was started, nothing is listed.
    assert [answer["status"] for answer in result["token_answers"]] == [201, 402]
    refusal = result["token_answers"][1]
    refused = result["refused"]
    resets = refused["bounds"]["usage-resets"]
    assert resets["datetime"] == refused["usage"]["period_end"]
    waited = (moment(resets["datetime"]) - moment(refusal["at"])).total_seconds()
    assert abs(int(refusal["retry_after"]) - waited) <= 2, (refusal, resets)
    error = refused["page"]["error"]
    assert error.startswith("No voice minutes left this day (0:00 used of 0:00). "), error
    assert f"They come back at {resets['text']} (in " in error
    assert refused["page"]["user"] == BROKE_USER_ID
    assert refused["page"]["connection-state"] == "disconnected"
    assert refused["bounds"]["usage-allowance"] == "0:00 a day, 0:00 left"
    assert refused["bounds"]["ends-in"] == ""
    assert refused["kept_room"] is None
    assert refused["recent_sessions"] == []
    assert refused["live_sessions"] == {"sessions": []}

    # The page ran under its CSP without a violation and opened no origin but its own and LiveKit's.
    assert result["csp_violations"] == []
    allowed = {result["service_origin"], *livekit_origins(result["livekit_url"])}
    assert set(result["origins_requested"]) <= allowed, result["origins_requested"]

    # No bearer or join token in the service's log or the page's console; no host looked up.
    assert result["jwts_in_service_log"] == 0
    assert JWT.findall((ARTIFACTS / CONSOLE_LOG).read_text()) == []
    assert json.loads((ARTIFACTS / "dns.json").read_text()) == []
    assert (ARTIFACTS / SCREENSHOT).read_bytes().startswith(PNG_SIGNATURE)
    print(f"demo page bounds scenario: {elapsed:.1f}s in all; steps {result['seconds']}")
