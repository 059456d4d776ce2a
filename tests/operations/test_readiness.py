"""Health and readiness: /healthz while the process runs, /readyz while LiveKit answers, and when it
does not, what to check (credentials, TLS, the address), said once in the log.

LIVEKIT_CHECK_ON_START runs the same check before the service starts serving.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.support.apps import service_container, serving
from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import run_to_its_end, running_service
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port

WRONG_SECRET = "a-wrong-secret-that-is-long-enough-0123456789"


CREDENTIALS_REFUSED = {
    "detail": "LiveKit refused our credentials (check LIVEKIT_API_KEY / LIVEKIT_API_SECRET)"
}


TLS_TO_PLAIN = {
    "detail": "TLS to a non-TLS server (LIVEKIT_URL is wss:// or https://, LiveKit answers without TLS)"
}


UNREACHABLE = {"detail": "LiveKit is not reachable"}


async def test_health_and_readiness(client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready", "journal": "ok"}
    memory_gateway.fail("ping")
    not_ready = await client.get("/readyz")
    assert (not_ready.status_code, not_ready.json()) == (503, {"detail": "LiveKit is not reachable"})
    assert (await client.get("/healthz")).status_code == 200


async def test_readiness_follows_livekit(
    livekit_client: httpx.AsyncClient, livekit_server: LocalLiveKitServer
) -> None:
    assert (await livekit_client.get("/readyz")).json() == {"status": "ready", "journal": "ok"}


# --- what /readyz and the log say ------------------------------------------------------


def misconfigured(server: LocalLiveKitServer) -> dict[str, tuple[str, str, str, dict[str, str], str]]:
    """case: (url, key, secret, readiness answer, what the ERROR log tells to check)."""
    return {
        "wrong secret": (server.url, server.api_key, WRONG_SECRET, CREDENTIALS_REFUSED, "LIVEKIT_API_SECRET"),
        "unknown key": (server.url, "APIunknown", server.api_secret, CREDENTIALS_REFUSED, "LIVEKIT_API_KEY"),
        "wss to a server without TLS": (
            server.url.replace("ws://", "wss://"),
            server.api_key,
            server.api_secret,
            TLS_TO_PLAIN,
            "use ws:// or http://",
        ),
        "https to a server without TLS": (
            server.http_url.replace("http://", "https://"),
            server.api_key,
            server.api_secret,
            TLS_TO_PLAIN,
            "use ws:// or http://",
        ),
        "nothing listening": (
            f"ws://127.0.0.1:{free_port()}",
            server.api_key,
            server.api_secret,
            UNREACHABLE,
            "LIVEKIT_URL (host and port)",
        ),
    }


CASES = ["wrong secret", "unknown key", "wss to a server without TLS", "https to a server without TLS"]


@pytest.mark.parametrize("case", [*CASES, "nothing listening"])
async def test_readyz_and_the_log_say_what_is_wrong(
    livekit_server: LocalLiveKitServer, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    url, key, secret, answer, check = misconfigured(livekit_server)[case]
    caplog.set_level(logging.INFO)
    async with serving(service_container(url, key, secret)) as client:
        probes = [await client.get("/readyz") for _ in range(3)]
        created = await client.post(BASE, json={}, headers=auth_header(unique_user_id("cfg")))
    assert [(p.status_code, p.json()) for p in probes] == [(503, answer)] * 3
    assert created.status_code == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    not_ready = [m for m in errors if m.startswith("not ready")]
    assert len(not_ready) == 1, errors  # logged when readiness changes, not on every probe
    assert check in not_ready[0]
    assert any(m.startswith("LiveKit call failed") and check in m for m in errors), errors
    assert WRONG_SECRET not in caplog.text


# --- LIVEKIT_CHECK_ON_START ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["wrong secret", "wss to a server without TLS"])
def test_livekit_check_on_start_refuses_to_start(
    livekit_server: LocalLiveKitServer, tmp_path: Path, case: str
) -> None:
    url, key, secret, answer, check = misconfigured(livekit_server)[case]
    result = run_to_its_end(
        tmp_path,
        LIVEKIT_URL=url,
        LIVEKIT_API_KEY=key,
        LIVEKIT_API_SECRET=secret,
        LIVEKIT_CHECK_ON_START="1",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert answer["detail"] in output
    assert check in output
    assert WRONG_SECRET not in output


def test_livekit_check_on_start_starts_when_livekit_accepts(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    with running_service(tmp_path, livekit_server, LIVEKIT_CHECK_ON_START="1") as service:
        assert httpx.get(service.base_url + "/readyz").status_code == 200


def test_livekit_check_on_start_only_warns_while_livekit_is_unreachable(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    url, key, secret, _, check = misconfigured(livekit_server)["nothing listening"]
    variables = {"LIVEKIT_URL": url, "LIVEKIT_API_KEY": key, "LIVEKIT_API_SECRET": secret}
    with running_service(tmp_path, None, LIVEKIT_CHECK_ON_START="1", **variables) as service:
        assert httpx.get(service.base_url + "/readyz").json() == UNREACHABLE
        assert check in service.log_text()
