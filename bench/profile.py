"""``--profile``: the service in this process under pyinstrument, through a short workload.

Figures under a profiler are not benchmarks; this says where the time goes. The service
gets the same settings mapping as a measured target and is built through the composition
root, ``ServiceContainer.from_environment(mapping)``, then served by uvicorn in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from pyinstrument import Profiler

from bench.clients import ApiUser, bearer, http_client
from bench.direct import delete_rooms
from bench.harness import livekit_client
from bench.loops import burst
from bench.plan import Plan
from bench.progress import progress
from bench.service import STARTUP_SECONDS, running, wait_ready
from bench.targets import PROFILED, LiveKitAccess, service_environment
from voicecore.testing.processes import free_port
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer


class ProfiledService:
    """uvicorn.Server in a background thread of this process, under pyinstrument until it stops."""

    def __init__(self, name: str, settings: Mapping[str, str], *, profile_to: Path) -> None:
        self.name = name
        self.port = free_port()
        app = create_app(ServiceContainer.from_environment(settings))
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        )
        self._profile_to = profile_to
        self._thread = threading.Thread(target=self._run, name="voicecore-http", daemon=True)
        self.profile_text = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        try:
            asyncio.run(self._server.serve())
        finally:
            profiler.stop()
            self._profile_to.write_text(profiler.output_html())
            self.profile_text = profiler.output_text(unicode=False, color=False, show_all=False)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        wait_ready(self.base_url, timeout, alive=self._thread.is_alive)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


async def _workload(base_url: str, auth_secret: str, livekit: LiveKitAccess, count: int) -> None:
    async with (
        http_client(base_url, bearer(PROFILED.user_id, auth_secret), connections=32) as client,
        livekit_client(livekit) as lk,
    ):
        user = ApiUser(PROFILED.name, client, PROFILED.user_id)
        made: set[str] = set()
        for _ in range(count):
            made.add(await user.create())
        room = next(iter(made))
        for _ in range(count):
            await user.status(room)

        async def create(_: int) -> None:
            made.add(await user.create())

        await burst(create, count=count, in_flight=32)
        await delete_rooms(lk, made)


def profile(plan: Plan, livekit: LiveKitAccess, auth_secret: str, results: Path, scratch: Path) -> int:
    """``scratch`` holds the journal: the SQLite default would land in this process's working directory."""
    results.mkdir(parents=True, exist_ok=True)
    html, text = results / "profile.html", results / "profile.txt"
    journal = f"sqlite:///{(scratch / 'voicecore-journal.sqlite3').resolve()}"
    settings = service_environment(PROFILED, livekit, auth_secret) | {"JOURNAL_URL": journal}
    service = ProfiledService(PROFILED.name, settings, profile_to=html)
    count = 200 if plan.mode == "quick" else 600
    progress(
        f"profile: in-process uvicorn under pyinstrument; "
        f"{count} creates, {count} statuses, {count} concurrent"
    )
    with running([service]):
        asyncio.run(_workload(service.base_url, auth_secret, livekit, count))
    text.write_text(service.profile_text)
    print(service.profile_text)
    progress(f"profile written to {html} and {text} (figures under a profiler are not benchmarks)")
    return 0
