"""The demo page (DEMO_PAGE=1): served by the service, then in a real browser: sign in, start, meet
the agent, reload and rejoin, end.

For the browser, everything (LiveKit server, agent worker, the service, chromium) runs in a
private network namespace; tests/browser/scenario_demo_page.py drives it and the last test
reads what it recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.browser.scenario_demo_page import CONSOLE_LOG, JWT, SCREENSHOT, USER_ID
from tests.support.apps import service_container, serving
from tests.support.browser.netns import run_isolated
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.settings import SettingsError
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.demo_page import DEMO_DIRECTORY, LIVEKIT_CLIENT_BUNDLE, serve_demo_page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "demo-page"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A blank or broken page compresses to a few KiB; the joined page with its status is far larger.
SCREENSHOT_MIN_BYTES = 20_000


REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
async def demo_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=memory_gateway, DEMO_PAGE="1"
    )
    async with serving(container) as client:
        yield client


# --- the page, as the service serves it ----------------------------------------------


async def test_the_demo_page_is_off_by_default(client: httpx.AsyncClient) -> None:
    for path in ("/demo", "/demo/", "/demo/demo.js", "/demo/livekit-client.esm.mjs"):
        assert (await client.get(path)).status_code == 404


async def test_the_demo_page_is_served_with_demo_page_on(demo_client: httpx.AsyncClient) -> None:
    redirect = await demo_client.get("/demo")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/demo/")
    page = await demo_client.get("/demo/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    script = await demo_client.get("/demo/demo.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert '<script type="module" src="demo.js">' in page.text
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page.text), "the page loads nothing from elsewhere"


async def test_the_page_loads_the_pinned_livekit_client_from_the_service(
    demo_client: httpx.AsyncClient,
) -> None:
    pinned = json.loads((REPOSITORY / "web/package.json").read_text())["dependencies"]["livekit-client"]
    locked = json.loads((REPOSITORY / "web/package-lock.json").read_text())
    assert locked["packages"]["node_modules/livekit-client"]["version"] == pinned
    bundle = await demo_client.get("/demo/livekit-client.esm.mjs")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert f'version$1 = "{pinned}"' in bundle.text
    # What the page imports, the bundle exports.
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    [(names, source)] = re.findall(r"import \{([^}]*)\} from '([^']+)'", script)
    assert source == "./livekit-client.esm.mjs"
    exported = re.findall(r"export\s*\{([^}]*)\}", bundle.text)[-1]  # the module's export list
    exported_names = {name.strip().split(" as ")[-1] for name in exported.split(",")}
    assert {name.strip() for name in names.split(",")} <= exported_names


def test_every_element_the_script_uses_is_on_the_page() -> None:
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    page = (DEMO_DIRECTORY / "index.html").read_text()
    used = set(re.findall(r"\$\('([a-z-]+)'\)", script)) | set(
        re.findall(r"show(?:Flag)?\('([a-z-]+)'", script)
    )
    present = set(re.findall(r'\sid="([a-z-]+)"', page))
    assert used
    assert used <= present, used - present
    for element_id in present - {"sign-in-section"}:
        assert f'id="{element_id}" data-testid="' in page, element_id


def test_demo_page_without_the_installed_bundle_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DEMO_PAGE") as failure:
        serve_demo_page(FastAPI(), bundle=tmp_path / "missing.mjs")
    assert "make setup" in str(failure.value)
    assert LIVEKIT_CLIENT_BUNDLE.is_file(), "make setup installs it: the test above must not be the only one"


# --- in a real browser ------------------------------------------------------------------


def only_browser_publishing(server: dict[str, Any]) -> dict[str, Any]:
    """The one participant with the user's identity, which must publish its microphone."""
    users = [p for p in server["participants"] if p["identity"] == USER_ID]
    assert len(users) == 1, server
    assert users[0]["kind"] == "STANDARD"
    assert {"type": "AUDIO", "source": "MICROPHONE"} in users[0]["tracks"]
    return users[0]


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
    # Signed in, the page keeps the bearer token in sessionStorage, not on screen.
    assert result["token_input_after_sign_in"] == ""

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
        "disconnect-reason": "",
        "error": "",
    }

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
    assert rejoined["page"]["error"] == ""

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

    # Neither the service's log nor the page's console carries a bearer or join token.
    assert result["jwts_in_service_log"] == 0
    assert JWT.findall((ARTIFACTS / CONSOLE_LOG).read_text()) == []

    # Nothing in the namespace (server, worker, service, browser) tried to look up any host.
    assert json.loads((ARTIFACTS / "dns.json").read_text()) == []
    screenshot = (ARTIFACTS / SCREENSHOT).read_bytes()
    assert screenshot.startswith(PNG_SIGNATURE)
    assert len(screenshot) > SCREENSHOT_MIN_BYTES
    print(f"demo page scenario: {elapsed:.1f}s in all; steps {result['seconds']}")
