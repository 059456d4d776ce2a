"""``python -m bench.filled_service --port N``: the service as production runs it, its store filled.

For the /metrics flood phase (``bench.phases.metrics_flood``). The service is built
exactly as production builds it (``ServiceContainer.from_environment``, ``create_app``,
``voicecore_http.server.serve``); the one difference: once its start-up has run (the
index repair included), ``BENCH_FILLER_SESSIONS`` voicecore-shaped records are added to
its session store through the store's own port, before it answers ``/readyz``. They
are records only, of other users, with no LiveKit room behind them: 20,000 real rooms
would cost livekit-server gigabytes (docs/livekit.md), and what the phase measures is
what a scrape costs against a store that holds that many live sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

from fastapi import FastAPI

from bench.targets import FILLER_VARIABLE
from voicecore.core.domain import utc_now
from voicecore.core.naming import new_room_name
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve

_AT_ONCE: Final = 20  # records added concurrently (one Redis round trip each)


def filler_record(index: int) -> SessionRecord:
    user_id = f"member-{index:05d}"
    return SessionRecord(new_room_name(user_id), user_id, "workout", utc_now())


async def fill(store: SessionStore, count: int) -> None:
    for start in range(0, count, _AT_ONCE):
        batch = [filler_record(i) for i in range(start, min(start + _AT_ONCE, count))]
        added = await asyncio.gather(*(store.add_session(record) for record in batch))
        if not all(added):
            raise RuntimeError("a filler record's room was already recorded")


def filled_app(container: ServiceContainer, count: int) -> FastAPI:
    """``create_app(container)``, whose start-up ends by adding ``count`` filler records to the store."""
    app = create_app(container)
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        async with started(served) as state:
            await fill(container.session_store(), count)
            yield state

    app.router.lifespan_context = lifespan
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.filled_service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    container = ServiceContainer.from_environment()
    http_settings = container.http_settings()
    configure_logging(http_settings.log_format, http_settings.log_level)
    app = filled_app(container, int(os.environ.get(FILLER_VARIABLE, "0")))
    serve(app, http_settings, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
