"""``make serve``: the API plus, by default, a local LiveKit server, for development.

Settings come from the environment and ``.env`` (if present). When LIVEKIT_URL is
not configured, the pinned livekit-server is started on loopback with fresh keys, and
the development agent worker (devtools/agent_worker.py) registers with it under
LIVEKIT_AGENT_NAME (``voicecore-dev-coach`` unless configured), so a session shows
its agent arriving. When APP_WEBHOOK_URL is not configured, the receiver of
docs/examples/webhook_receiver.py is started on loopback and the session events are
sent to it: it prints each one it verified, here.
An AUTH_JWT_SECRET is generated when none is configured. The banner prints all
of it, a development user token, and how to mint one for any other user.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dotenv import dotenv_values

from devtools.token import dev_user_token
from voicecore.settings import JournalSettings, SettingsError
from voicecore.testing.livekit_server import (
    LiveKitServerUnavailable,
    LocalLiveKitServer,
    running_livekit_server,
)
from voicecore.testing.processes import die_with_parent, free_port, log_tail, spawn, stop
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve

ENV_FILE = Path(".env")
DEV_AGENT_NAME = "voicecore-dev-coach"
WORKER_READY_MESSAGE = "agent worker registered"  # devtools.agent_worker.READY_MESSAGE
WORKER_READY_TIMEOUT_S = 60.0
# The worker drains its jobs on SIGTERM (devtools.agent_worker.DRAIN_TIMEOUT_S) before it exits.
WORKER_STOP_TIMEOUT_S = 15.0
WEBHOOK_RECEIVER = Path(__file__).resolve().parents[1] / "docs" / "examples" / "webhook_receiver.py"
WEBHOOK_PATH = "/webhooks/voicecore"  # the example's
RECEIVER_READY_TIMEOUT_S = 30.0


def _configured(name: str) -> str | None:
    from_file = dotenv_values(ENV_FILE).get(name) if ENV_FILE.exists() else None
    return os.environ.get(name) or from_file or None


class PortTaken(Exception):
    pass


class AgentWorkerUnavailable(Exception):
    pass


class WebhookReceiverUnavailable(Exception):
    pass


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortTaken(f"{host}:{port} is already in use; try `make serve PORT=8010`") from exc


@contextlib.contextmanager
def _livekit() -> Iterator[list[str]]:
    """Yield banner lines describing the LiveKit server in use."""
    if _configured("LIVEKIT_URL"):
        yield [f"LiveKit            {_configured('LIVEKIT_URL')} (configured)"]
        return
    with running_livekit_server() as server:
        os.environ.update(
            LIVEKIT_URL=server.url, LIVEKIT_API_KEY=server.api_key, LIVEKIT_API_SECRET=server.api_secret
        )
        # The service dispatches this name at create, and the worker registers under it.
        agent_name = _configured("LIVEKIT_AGENT_NAME") or DEV_AGENT_NAME
        os.environ["LIVEKIT_AGENT_NAME"] = agent_name
        with _agent_worker(server, agent_name) as worker_log:
            yield [
                f"LiveKit            local livekit-server at {server.url} (log: {server.log_path})",
                f"  LIVEKIT_API_KEY    {server.api_key}",
                f"  LIVEKIT_API_SECRET {server.api_secret}",
                f"Agent worker       running as {agent_name!r} (log: {worker_log})",
            ]


@contextlib.contextmanager
def _agent_worker(server: LocalLiveKitServer, agent_name: str) -> Iterator[Path]:
    """Run devtools.agent_worker against ``server`` until the block ends; yield its log path.

    It is spawned to die with this process; on a clean exit it gets SIGTERM and drains its
    jobs, and is killed if it does not end in time.
    """
    workdir = Path(tempfile.mkdtemp(prefix="voicecore-agent-worker-"))
    log_path = workdir / "worker.log"
    env = {
        **os.environ,
        "LIVEKIT_URL": server.url,
        "LIVEKIT_API_KEY": server.api_key,
        "LIVEKIT_API_SECRET": server.api_secret,
        "LIVEKIT_AGENT_NAME": agent_name,
    }
    process = spawn([sys.executable, "-m", "devtools.agent_worker"], log_path, env=env)
    try:
        _wait_registered(process, log_path)
        yield log_path
    finally:
        stop(process, timeout=WORKER_STOP_TIMEOUT_S)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_registered(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if WORKER_READY_MESSAGE in log_path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AgentWorkerUnavailable(f"the agent worker exited:\n{log_tail(log_path)}")
        time.sleep(0.1)
    raise AgentWorkerUnavailable(f"the agent worker did not register in time:\n{log_tail(log_path)}")


@contextlib.contextmanager
def _app_webhooks() -> Iterator[list[str]]:
    """Yield banner lines for app webhooks; with APP_WEBHOOK_URL unset, run the development receiver."""
    if _configured("APP_WEBHOOK_URL"):
        yield [f"App webhooks       {_configured('APP_WEBHOOK_URL')} (configured)"]
        return
    secret = (
        _configured("APP_WEBHOOK_SECRET") or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    port = free_port()
    # Its output is this terminal: each verified event prints here, between the service's logs.
    receiver = subprocess.Popen(  # noqa: S603 - our own example, fixed arguments
        [sys.executable, str(WEBHOOK_RECEIVER), "--port", str(port)],
        env={**os.environ, "APP_WEBHOOK_SECRET": secret},
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
    )
    try:
        _wait_listening(receiver, port)
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        os.environ.update(APP_WEBHOOK_URL=url, APP_WEBHOOK_SECRET=secret)
        yield [
            f"App webhooks       development receiver at {url}",
            "  it prints here each session event it verified (docs/examples/webhook_receiver.py);",
            "  set APP_WEBHOOK_URL to send them to your backend instead",
            f"  APP_WEBHOOK_SECRET {secret}",
        ]
    finally:
        stop(receiver)


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + RECEIVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WebhookReceiverUnavailable("the development webhook receiver exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise WebhookReceiverUnavailable("the development webhook receiver did not start in time")


def journal_line(settings: JournalSettings) -> str:
    """Where the journal is: the SQLite file's path, or only that it is PostgreSQL (never its URL)."""
    location = settings.journal_location()
    if location.startswith("sqlite:///"):
        return f"Journal            SQLite, {location.removeprefix('sqlite:///')} (JOURNAL_URL to change)"
    return "Journal            PostgreSQL (JOURNAL_URL)"


def banner(
    base: str,
    livekit_lines: list[str],
    jwt_secret: str,
    token: str,
    *,
    demo_page: bool = False,
    journal: str = "",
) -> str:
    demo_lines = (
        # The page signs in from nothing but what is pasted into it (docs/http-api.md).
        ["The demo web client (paste the dev-user token above to sign in):", f"  {base}/demo/", ""]
        if demo_page
        else ["DEMO_PAGE=1 make serve also serves a demo web client at /demo/.", ""]
    )
    return "\n".join(
        [
            "",
            f"voicecore API      {base}  (docs: {base}/docs)",
            *livekit_lines,
            *([journal] if journal else []),
            f"AUTH_JWT_SECRET    {jwt_secret}",
            "",
            "A development user token (user dev-user, valid 24 h):",
            f"  export TOKEN={token}",
            f"  curl -s -X POST {base}/api/v1/voice-sessions \\",
            '    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\',
            '    -d \'{"agent_type": "workout"}\'',
            "",
            "A token for any other user (try another user's session: 403):",
            f"  AUTH_JWT_SECRET={jwt_secret} .venv/bin/python -m devtools.token alice",
            "",
            *demo_lines,
        ]
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    args = parser.parse_args(argv)

    # Until uvicorn takes over SIGTERM (and after it hands it back), it ends the
    # process through the with-blocks below, so livekit-server is stopped too.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if not _configured("AUTH_JWT_SECRET"):
        os.environ["AUTH_JWT_SECRET"] = secrets.token_urlsafe(32)
    try:
        check_port_free(args.host, args.port)
        with _livekit() as livekit_lines, _app_webhooks() as webhook_lines:
            container = ServiceContainer.from_environment(env_file=ENV_FILE if ENV_FILE.exists() else None)
            app = create_app(container)
            http = container.http_settings()
            configure_logging(http.log_format, http.log_level)
            jwt_secret = http.auth_jwt_secret.get_secret_value()
            base = f"http://{args.host}:{args.port}"
            token = dev_user_token(jwt_secret, "dev-user", "dev@example.com")
            journal = journal_line(container.settings())
            lines = [*livekit_lines, *webhook_lines]
            print(
                banner(base, lines, jwt_secret, token, demo_page=http.demo_page, journal=journal),
                flush=True,
            )
            # uvicorn turns SIGTERM and SIGINT into a graceful exit, and the with-block then
            # stops livekit-server; were this process killed outright, the server's
            # parent-death signal ends it.
            serve(app, http, host=args.host, port=args.port)
    except (
        SettingsError,
        LiveKitServerUnavailable,
        AgentWorkerUnavailable,
        WebhookReceiverUnavailable,
        PortTaken,
    ) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
