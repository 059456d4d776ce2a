"""``GET /metrics``: Prometheus' text format, when METRICS_ENABLED (the default).

Unauthenticated, like /healthz: it carries counts and timings, never a user id,
room name or token. Keep it off the public edge (docs/hosting.md).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fastapi import APIRouter, Response

from voicecore.adapters.prometheus_metrics import CONTENT_TYPE
from voicecore.container import VoiceCoreContainer

METRICS_PATH = "/metrics"


@runtime_checkable
class _Exposition(Protocol):
    def render(self, live_sessions: int) -> bytes: ...


def metrics_router(container: VoiceCoreContainer) -> APIRouter:
    router = APIRouter()

    @router.get(METRICS_PATH, include_in_schema=False)
    async def metrics() -> Response:
        exposition = container.metrics()
        if not isinstance(exposition, _Exposition):
            return Response(status_code=404)
        live = len(await container.session_store().all_sessions())
        return Response(exposition.render(live), media_type=CONTENT_TYPE)

    return router
