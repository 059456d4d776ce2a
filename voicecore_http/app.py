"""The app factory and the pieces a host backend mounts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from voicecore import __version__
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.settings import SettingsError
from voicecore_http.auth import bearer_user_dependency
from voicecore_http.container import ServiceContainer
from voicecore_http.demo_page import serve_demo_page
from voicecore_http.error_handlers import install_error_handlers
from voicecore_http.health import check_livekit, health_router
from voicecore_http.invalid_requests import install_validation_handler
from voicecore_http.limits import BodyLimitMiddleware
from voicecore_http.metrics import metrics_router
from voicecore_http.metrics_listener import metrics_listener
from voicecore_http.offline_docs import serve_docs_offline
from voicecore_http.request_id import RequestIdMiddleware
from voicecore_http.routes import DEFAULT_PREFIX, TAG_METADATA, voice_sessions_router
from voicecore_http.webhooks import WEBHOOK_PATH, livekit_webhooks_router

logger = logging.getLogger(__name__)

_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def include_voice_sessions(
    app: FastAPI,
    container: VoiceCoreContainer,
    *,
    get_current_user: Callable[..., Any],
    prefix: str = DEFAULT_PREFIX,
) -> None:
    """Mount the endpoints on a host's app, with the host's own get_current_user.

    The host also enters ``voicecore_lifespan(container)`` in its lifespan so the
    LiveKit client is opened and closed with the app.
    """
    app.include_router(
        voice_sessions_router(
            sessions=container.sessions,
            get_current_user=get_current_user,
            prefix=prefix,
            usage_claim=container.settings().usage_limit_claim,
        )
    )
    if prefix:  # with no prefix the host's own paths would be caught
        app.include_router(_no_slash_redirects(prefix))
    install_error_handlers(app)


def include_livekit_webhooks(
    app: FastAPI, container: VoiceCoreContainer, *, path: str = WEBHOOK_PATH
) -> None:
    """Mount the webhook intake (a host that also wants the store kept fresh by events)."""
    app.include_router(
        livekit_webhooks_router(
            verifier=container.webhook_verifier, events=container.session_events, path=path
        )
    )
    install_error_handlers(app)


def _no_slash_redirects(prefix: str) -> APIRouter:
    """404 for the trailing-slash forms of the endpoints' paths.

    Otherwise Starlette, on any app that keeps ``redirect_slashes``, answers them
    with a redirect to an absolute URL built from the request's Host header.
    """
    router = APIRouter(include_in_schema=False)
    for path in (f"{prefix}/", f"{prefix}/{{anything:path}}/"):
        router.add_api_route(path, not_found, methods=_EVERY_METHOD)
    return router


async def not_found() -> None:
    raise HTTPException(status_code=404)


def create_app(container: ServiceContainer | None = None) -> FastAPI:
    """The standalone service; without a container, configured from the environment.

    Raises SettingsError, naming every missing variable, if configuration is incomplete.
    """
    container = container or ServiceContainer.from_environment()
    settings = container.settings()
    http_settings = container.http_settings()
    if http_settings.metrics_port is not None and not settings.metrics_enabled:
        raise SettingsError([], ["METRICS_PORT: set while METRICS_ENABLED is false"])

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            if settings.livekit_check_on_start:
                await check_livekit(container)
            async with metrics_listener(container, http_settings):
                yield

    http_settings = container.http_settings()
    app = FastAPI(
        title="voicecore",
        version=__version__,
        summary="Voice sessions with AI fitness coaches over LiveKit.",
        openapi_tags=[TAG_METADATA],
        lifespan=lifespan,
        # A redirect would be built from the request's Host header.
        redirect_slashes=False,
        docs_url=None,  # served by serve_docs_offline, from a pinned package
        redoc_url=None,  # ReDoc would load from a CDN
    )
    if http_settings.http_limits_enabled:
        app.add_middleware(BodyLimitMiddleware, max_body_bytes=http_settings.http_max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # refusals carry the request id too
    if http_settings.cors_origins:
        # Outermost: a preflight is answered here, and every answer (refusals and
        # errors included) carries the CORS headers a browser needs to read it.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(http_settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    install_validation_handler(app)
    include_voice_sessions(app, container, get_current_user=bearer_user_dependency(container.authenticator))
    include_livekit_webhooks(app, container)
    app.include_router(health_router(container))
    if settings.metrics_enabled and http_settings.metrics_port is None:
        app.include_router(metrics_router(container))  # else on a listener of its own
    serve_docs_offline(app)
    if http_settings.demo_page:
        serve_demo_page(app, livekit_url=settings.livekit_url)

    _document_only_reachable_errors(app)
    return app


def _document_only_reachable_errors(app: FastAPI) -> None:
    """Drop FastAPI's automatic 422 where no input can fail validation.

    FastAPI documents a 422 (in its own list-shaped body) on every operation with
    parameters; ours can only fail validation on a request body or a query parameter,
    and answer it in the one ``{"detail": "..."}`` shape documented explicitly there.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            for operations in document["paths"].values():
                for operation in operations.values():
                    if not _can_fail_validation(operation):
                        operation["responses"].pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _can_fail_validation(operation: dict[str, Any]) -> bool:
    """A body or a query parameter can be invalid; a path's room name cannot (it is only looked up)."""
    queries = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    return "requestBody" in operation or bool(queries)
