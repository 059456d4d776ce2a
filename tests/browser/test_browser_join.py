"""A real browser joins a voice session and meets the real agent, all in a private network."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.browser.scenario_join import SCREENSHOT
from tests.support.browser.netns import run_isolated

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "join"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
def test_a_browser_joins_publishes_its_microphone_and_hears_the_agent() -> None:
    started = time.monotonic()
    run = run_isolated(
        "tests.browser.scenario_join", [str(ARTIFACTS)], dns_log=ARTIFACTS / "dns.json", timeout=180
    )
    elapsed = time.monotonic() - started
    result = json.loads((ARTIFACTS / "result.json").read_text())
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr[-4000:]}"
    assert result["ok"]

    server_view = result["server_view"]
    assert server_view["identity"] == result["joined"]["identity"] == "browser-user"
    assert server_view["kind"] == "STANDARD"
    assert {"type": "AUDIO", "source": "MICROPHONE"} in server_view["tracks"]

    by_kind = {item["kind"]: item for item in result["page_participants"]}
    assert by_kind["standard"] == {
        "identity": "browser-user",
        "kind": "standard",
        "local": "true",
        "audio": "publishing",
    }
    assert by_kind["agent"]["identity"].startswith("agent-AJ_")
    assert by_kind["agent"]["audio"] == "subscribed"
    assert result["agent_audio_bytes"] > 0
    # voicecore's own status call sees both: the browser and the agent.
    assert result["voicecore_status"] == {"participant_count": 2, "agent_connected": True}
    assert result["page_status_after_end"] == "disconnected (ROOM_DELETED)"

    # Nothing in the namespace (server, worker, browser) tried to look up any host.
    assert json.loads((ARTIFACTS / "dns.json").read_text()) == []
    assert (ARTIFACTS / SCREENSHOT).read_bytes().startswith(PNG_SIGNATURE)
    print(f"browser scenario: {elapsed:.1f}s in all; steps {result['seconds']}")
