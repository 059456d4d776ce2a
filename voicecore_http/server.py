"""How the standalone service runs under uvicorn: ``python -m voicecore_http`` and ``make serve`` alike.

uvicorn's own settings do what they can: ``limit_concurrency`` answers 503 past
HTTP_MAX_CONCURRENCY open connections or requests in progress, and
``timeout_keep_alive`` closes idle keep-alive connections. The rest is ours and
small: the request deadline and head limits (voicecore_http.protocol) and the
body limit (voicecore_http.limits, installed by create_app). HTTP_LIMITS_ENABLED=0
runs uvicorn without them, to measure what they cost.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from voicecore_http.protocol import ConnectionLimits, limited_http_protocol
from voicecore_http.settings import HttpSettings


def uvicorn_options(settings: HttpSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` or ``uvicorn.Config``, besides the app, host and port."""
    # log_config=None keeps our handlers (configure_logging); the access log uses them too.
    options: dict[str, Any] = {"log_config": None}
    if not settings.http_limits_enabled:
        return options
    limits = ConnectionLimits(
        idle_timeout_seconds=settings.http_idle_timeout_seconds,
        request_timeout_seconds=settings.http_request_timeout_seconds,
        max_head_bytes=settings.http_max_header_bytes,
        max_headers=settings.http_max_headers,
    )
    return options | {
        "http": limited_http_protocol(limits),
        "ws": "none",  # no WebSocket routes: an upgrade request is plain HTTP
        "limit_concurrency": settings.http_max_concurrency,
        "timeout_keep_alive": settings.http_idle_timeout_seconds,
    }


def serve(app: FastAPI, settings: HttpSettings, *, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; exits non-zero if the app's start-up fails."""
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings))
