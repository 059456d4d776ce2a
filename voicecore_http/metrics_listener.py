"""METRICS_PORT: ``GET /metrics`` on a listener of its own, beside the API's, in the same process.

Often a private port, as Prometheus exporters have (docs/hosting.md); the API's
port then serves no /metrics at all. The listener is a second uvicorn server in
the app's own event loop, started and stopped by the app's lifespan, rather than
prometheus-client's ``start_http_server`` thread:

- the live-session gauge is read from the session store, whose client belongs to
  this loop (a thread would have to call back into it for every scrape);
- it gets the API's edge limits (``uvicorn_options``: head size, deadlines, open
  connections), where the thread server has none and takes a thread per connection;
- it ends with the app, leaving no thread behind, and needs no signal of its own:
  the API's server stops the app, and the app stops the listener.

Several workers (prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR):
every worker listens on the port with SO_REUSEPORT, the kernel hands each scrape to
one of them, and any worker's answer merges all of theirs. Otherwise the port is
this process's alone, and a port already taken stops the start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from voicecore.adapters.prometheus_metrics import multiprocess_mode
from voicecore.container import VoiceCoreContainer
from voicecore_http.error_handlers import install_error_handlers
from voicecore_http.metrics import metrics_router
from voicecore_http.server import uvicorn_options
from voicecore_http.settings import HttpSettings

logger = logging.getLogger(__name__)

_BACKLOG = 128


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to the API's: the app's lifespan stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_app(container: VoiceCoreContainer) -> FastAPI:
    """What the listener serves: ``GET /metrics`` and nothing else (404)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.include_router(metrics_router(container))
    install_error_handlers(app)
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server(
            (host, port), family=family, backlog=_BACKLOG, reuse_port=multiprocess_mode()
        )
    except OSError as exc:
        # One line that says what to fix (the API's own port taken reads the same way).
        logger.error("METRICS_PORT %d on %s cannot be listened on: %s", port, host, exc.strerror)
        raise OSError(exc.errno, f"METRICS_PORT {port} on {host}: {exc.strerror}") from None


@contextlib.asynccontextmanager
async def metrics_listener(container: VoiceCoreContainer, settings: HttpSettings) -> AsyncIterator[None]:
    """``GET /metrics`` on METRICS_HOST:METRICS_PORT while open; nothing when METRICS_PORT is unset."""
    if settings.metrics_port is None:
        yield
        return
    sock = _listening_socket(settings.metrics_host, settings.metrics_port)
    config = uvicorn.Config(metrics_app(container), lifespan="off", **uvicorn_options(settings))
    server = _Listener(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="voicecore-metrics-listener")
    logger.info("metrics served on %s port %d, path /metrics", settings.metrics_host, settings.metrics_port)
    try:
        yield
    finally:
        server.should_exit = True
        await task
