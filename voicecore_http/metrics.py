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


class MetricsEndpoint:
    """``GET /metrics`` over one container's metrics and session store."""

    def __init__(self, container: VoiceCoreContainer) -> None:
        self._container = container

    async def metrics(self) -> Response:
        exposition = self._container.metrics()
        if not isinstance(exposition, _Exposition):
            return Response(status_code=404)
        live = await self._container.session_store().count_sessions()
        return Response(exposition.render(live), media_type=CONTENT_TYPE)


def metrics_router(container: VoiceCoreContainer) -> APIRouter:
    router = APIRouter()
    router.add_api_route(
        METRICS_PATH, MetricsEndpoint(container).metrics, methods=["GET"], include_in_schema=False
    )
    return router
