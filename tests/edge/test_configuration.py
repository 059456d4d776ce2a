"""Configuration refuses nonsense at start-up and diagnoses the rest, against the real LiveKit server."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.apps import service_container, serving
from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.service_process import running_service, service_environment
from tests.support.tokens import auth_header
from voicecore.settings import SettingsError, load_settings
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


def start_service(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m voicecore_http`` run to its end (it is expected to refuse to start)."""
    return subprocess.run(
        [sys.executable, "-m", "voicecore_http", "--port", str(free_port())],
        env=service_environment(**variables),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- refused at start-up -----------------------------------------------------------


@pytest.mark.parametrize(
    "secret", ["x", "a-31-character-secret-0123456789"[:31], "a-secret-with-a-trailing-newline-0123456789\n"]
)
def test_a_weak_or_padded_livekit_secret_is_refused_naming_the_variable_not_the_value(
    tmp_path: Path, secret: str
) -> None:
    result = start_service(
        tmp_path, LIVEKIT_URL="ws://127.0.0.1:7880", LIVEKIT_API_KEY="APIkey", LIVEKIT_API_SECRET=secret
    )
    assert result.returncode == 2
    assert "LIVEKIT_API_SECRET" in result.stderr
    if len(secret) > 1:
        assert secret.strip() not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


# --- LIVEKIT_URL, normalised once ----------------------------------------------------


async def test_clients_get_the_trimmed_and_normalised_url(livekit_server: LocalLiveKitServer) -> None:
    given_url = f"  \tWS://127.0.0.1:{livekit_server.http_port}/ \n"
    container = service_container(given_url, livekit_server.api_key, livekit_server.api_secret)
    headers = auth_header(unique_user_id("url"))
    async with serving(container) as client:
        created = await client.post(BASE, json={}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["livekit_url"] == livekit_server.url
        ended = await client.delete(f"{BASE}/{created.json()['room_name']}", headers=headers)
        assert ended.status_code == 200


_HOSTS = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}(\.[A-Za-z][A-Za-z0-9-]{0,10}){0,3}", fullmatch=True)


@given(
    scheme=st.sampled_from(["ws", "WSS", "Http", "https"]),
    host=_HOSTS,
    port=st.none() | st.integers(min_value=1, max_value=65535),
    slashes=st.integers(min_value=0, max_value=3),
    padding=st.tuples(st.sampled_from(["", " ", "\t", "\n "]), st.sampled_from(["", " ", "\r\n"])),
)
def test_the_url_is_normalised_once_and_for_all(
    scheme: str, host: str, port: int | None, slashes: int, padding: tuple[str, str]
) -> None:
    url = f"{padding[0]}{scheme}://{host}{f':{port}' if port else ''}{'/' * slashes}{padding[1]}"
    settings = load_settings({"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": WRONG_SECRET})
    normal = settings.livekit_url
    assert normal == f"{scheme.lower()}://{host.lower()}{f':{port}' if port else ''}"
    again = load_settings({"LIVEKIT_URL": normal, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": WRONG_SECRET})
    assert again.livekit_url == normal


@pytest.mark.parametrize("url", ["ws://live kit:7880", "ws://livekit\t:7880", "ws://livekit:7880/\x00"])
def test_whitespace_or_controls_inside_the_url_are_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="LIVEKIT_URL"):
        load_settings({"LIVEKIT_URL": url, "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": WRONG_SECRET})


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


@pytest.mark.parametrize("case", ["wrong secret", "wss to a server without TLS"])
def test_livekit_check_on_start_refuses_to_start(
    livekit_server: LocalLiveKitServer, tmp_path: Path, case: str
) -> None:
    url, key, secret, answer, check = misconfigured(livekit_server)[case]
    result = start_service(
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
