"""The demo page's bounds in a real browser: the countdown to ``ends_at``, the user's minutes, a
session the server cuts at its maximum length, and a start refused because no minutes are left.

Run only through ``tests.support.browser.netns.run_isolated`` (tests/browser/test_demo_page_bounds.py):
the LiveKit server, the service (``python -m voicecore_http`` with ``DEMO_PAGE=1``, a length cap of
``CAP_SECONDS``, a minute a day for everyone, and a user's own allowance read from the bearer
token's ``voice_minutes`` claim) and chromium live in that private network namespace. No agent
worker: the server cuts a session whoever is in it, and the agent's part is
tests/browser/scenario_demo_page.py's.

Headless chromium opens ``/demo/`` and, as a user would:

1. signs in as ``USER_ID`` (the default minute a day): the page shows nothing used of 1:00 and
   when the day's allowance resets;
2. presses Start: the page joins, shows the session's ``ends_at`` (the API's) and counts down to
   it; the scenario reads the countdown, then again until it shows fewer seconds, with the moment
   of each reading; the minutes show one live session;
3. waits while the server cuts the session at its deadline: the page is disconnected with
   ``ROOM_DELETED``, reads ``max_duration`` from the session's record, lists the session so, and
   shows the minutes the session used;
4. signs out and in as ``BROKE_USER_ID``, whose token grants no minutes at all, and presses
   Start: the service answers 402 with Retry-After, and the page says no minutes are left and
   when they come back; nothing is started.

The scenario asks the service itself (status, record, usage, list) what the page should show,
and keeps every CSP violation and every origin the page opened. ``OUT/result.json`` records it
all, with how long each step took; ``OUT/demo-session-cut.png`` is the page after the cut; logs
land beside them on failure.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, Response, expect

from tests.browser.scenario_demo_page import (
    CONSOLE_LOG,
    JWT,
    PROBE,
    bounds_shown,
    clock_seconds,
    origin_of,
    page_status,
    recent_sessions,
)
from tests.browser.scenario_join import STEP_TIMEOUT_MS
from tests.support.browser.chromium import chromium_page
from tests.support.browser.scenario_runner import Stopwatch, logs_kept_on_failure, run_scenario
from tests.support.constants import BASE
from tests.support.service_process import ServiceProcess, running_service
from tests.support.tokens import bearer
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import running_livekit_server

SCREENSHOT = "demo-session-cut.png"
# Long enough for a loaded machine to join and show a few seconds of countdown; short enough
# that the cut comes within the test's patience.
CAP_SECONDS = 10
USAGE_LIMIT_MINUTES = 1
USAGE_PERIOD = "day"
MINUTES_CLAIM = "voice_minutes"
USER_ID = "demo-bounds-user"
# A user whose token grants no minutes at all: every start of theirs is refused.
BROKE_USER_ID = "demo-bounds-broke"
# How long after the deadline the page may take to hear of the cut: the service's contract is
# the room gone within 5 s (tests/bounds/test_on_the_real_server.py), and the page is told then.
CUT_WITHIN_MS = 5_000 + STEP_TIMEOUT_MS
# The countdown once the first status answer has set it: a clock, not "no limit" nor empty.
CLOCK_TEXT = re.compile(r"^\d+:\d\d(:\d\d)?$")


async def api_get(http: httpx.AsyncClient, service: ServiceProcess, path: str, token: str) -> Any:
    answer = await http.get(f"{service.base_url}{BASE}{path}", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()


async def countdown_reading(page: Page) -> dict[str, Any]:
    """The countdown as shown, and the moment it was read."""
    shown = await page.get_by_test_id("ends-in").text_content() or ""
    return {"text": shown, "seconds": clock_seconds(shown), "read_at": datetime.now(UTC).isoformat()}


async def sign_in(page: Page, token: str, user_id: str) -> None:
    await page.get_by_test_id("token-input").fill(token)
    await page.get_by_test_id("sign-in").click()
    await expect(page.get_by_test_id("user")).to_have_text(user_id)
    await expect(page.get_by_test_id("usage-live")).not_to_have_text("")


async def live_through_the_cut(
    service: ServiceProcess, http: httpx.AsyncClient, out: Path, watch: Stopwatch
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    violations: list[dict[str, Any]] = []
    requested: list[str] = []
    token_answers: list[dict[str, Any]] = []
    token = bearer(USER_ID)
    broke_token = bearer(BROKE_USER_ID, extra_claims={MINUTES_CLAIM: 0})

    def keep_token_answer(response: Response) -> None:
        if response.url.endswith("/connection-details") or "/connection-details?" in response.url:
            token_answers.append(
                {
                    "status": response.status,
                    "retry_after": response.headers.get("retry-after"),
                    "at": datetime.now(UTC).isoformat(),
                }
            )

    async with chromium_page(console_log=out / CONSOLE_LOG) as page:
        await page.expose_binding("reportCspViolation", lambda _source, found: violations.append(found))
        await page.add_init_script(path=PROBE)
        page.on("request", lambda request: requested.append(request.url))
        page.on("websocket", lambda socket: requested.append(socket.url))
        page.on("response", keep_token_answer)

        await page.goto(f"{service.base_url}/demo/")
        await sign_in(page, token, USER_ID)
        result["signed_in"] = {
            "bounds": await bounds_shown(page),
            "usage": await api_get(http, service, "/usage", token),
        }
        watch.lap("signed in, the minutes shown")

        await page.get_by_test_id("start").click()
        await expect(page.get_by_test_id("connection-state")).to_have_text(
            "connected", timeout=STEP_TIMEOUT_MS
        )
        room = await page.get_by_test_id("room-name").text_content() or ""
        result["room"] = room
        watch.lap("browser joined through TokenSource.endpoint")
        # The first status answer sets the countdown; the minutes are read again after the join.
        await expect(page.get_by_test_id("ends-in")).to_have_text(CLOCK_TEXT, timeout=STEP_TIMEOUT_MS)
        await expect(page.get_by_test_id("usage-live")).to_have_text(re.compile(r"^1\b"))
        first = await countdown_reading(page)
        status = await api_get(http, service, f"/{room}", token)
        # Counting down: a later reading shows fewer seconds (the server cuts at zero).
        later = await eventually(
            lambda: countdown_reading(page),
            lambda reading: reading["seconds"] < first["seconds"],
            what="the countdown to go down",
            within=5,
            every=0.1,
        )
        result["joined"] = {
            "page": await page_status(page),
            "bounds": await bounds_shown(page),
            "countdown": [first, later],
            "status": status,
            "usage": await api_get(http, service, "/usage", token),
        }
        watch.lap("page counts down to ends_at")

        await expect(page.get_by_test_id("disconnect-reason")).to_have_text(
            "ROOM_DELETED", timeout=CAP_SECONDS * 1000 + CUT_WITHIN_MS
        )
        cut_seen_at = datetime.now(UTC)
        watch.lap("server cut the session, the page was disconnected")
        await expect(page.get_by_test_id("end-reason")).to_have_text("max_duration", timeout=STEP_TIMEOUT_MS)
        cut_row = page.locator(f'[data-testid=history-row][data-room="{room}"]')
        await expect(cut_row).to_have_attribute("data-end-reason", "max_duration", timeout=STEP_TIMEOUT_MS)
        await expect(page.get_by_test_id("usage-live")).to_have_text(re.compile(r"^0\b"))
        watch.lap("the record says max_duration, the minutes are counted")
        result["cut"] = {
            "seen_at": cut_seen_at.isoformat(),
            "page": await page_status(page),
            "bounds": await bounds_shown(page),
            "end_button_disabled": await page.get_by_test_id("end").is_disabled(),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
            "recent_sessions": await recent_sessions(page),
            "record": await api_get(http, service, f"/history/{room}", token),
            "usage": await api_get(http, service, "/usage", token),
        }
        await page.screenshot(path=out / SCREENSHOT, full_page=True)

        await page.get_by_test_id("sign-out").click()
        await expect(page.get_by_test_id("user")).to_have_text("(not signed in)")
        await sign_in(page, broke_token, BROKE_USER_ID)
        await page.get_by_test_id("start").click()
        await expect(page.get_by_test_id("error")).to_contain_text("No voice minutes left")
        watch.lap("a start with no minutes left refused, the page says when they come back")
        result["refused"] = {
            "page": await page_status(page),
            "bounds": await bounds_shown(page),
            "kept_room": await page.evaluate("sessionStorage.getItem('voicecore.demo.room')"),
            "recent_sessions": await recent_sessions(page),
            "usage": await api_get(http, service, "/usage", broke_token),
            "live_sessions": await api_get(http, service, "", broke_token),
        }
    result["token_answers"] = token_answers
    result["csp_violations"] = violations
    result["origins_requested"] = sorted({origin_of(url) for url in requested})
    result["service_origin"] = service.base_url
    return result


async def use_the_bounded_page(service: ServiceProcess, out: Path, watch: Stopwatch) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        return await live_through_the_cut(service, http, out, watch)


def steps(out: Path, watch: Stopwatch) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="demo-bounds-service-") as workdir,
        running_livekit_server() as server,
    ):
        watch.lap("server ready")
        with running_service(
            Path(workdir),
            server,
            DEMO_PAGE="1",
            SESSION_MAX_DURATION_SECONDS=str(CAP_SECONDS),
            USAGE_LIMIT_MINUTES=str(USAGE_LIMIT_MINUTES),
            USAGE_PERIOD=USAGE_PERIOD,
            USAGE_LIMIT_CLAIM=MINUTES_CLAIM,
        ) as service:
            watch.lap("service ready")
            with logs_kept_on_failure(out, server.log_path, service.log_path):
                found = asyncio.run(use_the_bounded_page(service, out, watch))
        found["livekit_url"] = server.url
        found["jwts_in_service_log"] = len(JWT.findall(service.log_text()))
        return found


def main(argv: list[str]) -> int:
    return run_scenario(argv, SCREENSHOT, steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
