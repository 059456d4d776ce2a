"""POST /api/v1/livekit/webhooks: LiveKit's room and participant events, verified, fed to the store.

LiveKit signs each delivery with a JWT in ``Authorization`` (no "Bearer ") whose
``sha256`` claim is the body's hash; only such bodies change anything. The
signature is checked before anything else about the request, so whatever an
unsigned request carries (any bytes, any Content-Type) it is answered the same
401. A signed delivery must then be JSON: LiveKit sends ``application/webhook+json``;
``application/json`` is accepted too, anything else is 400 like a body that is not
an event. A duplicate (same event id) is accepted and ignored, so LiveKit's
retries are harmless; so is an event of a kind voicecore does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from voicecore.core.errors import WebhookNotReadable, WebhookNotVerified
from voicecore.core.events import SessionEvents, WebhookVerifier
from voicecore_http.error_table import WEBHOOK_NOT_READABLE, WEBHOOK_NOT_VERIFIED
from voicecore_http.openapi_errors import openapi_error

WEBHOOK_PATH = "/api/v1/livekit/webhooks"
# What LiveKit sends, and plain JSON; parameters (a charset) may follow either.
WEBHOOK_MEDIA_TYPES = frozenset({"application/webhook+json", "application/json"})


class WebhookAccepted(BaseModel):
    status: Literal["applied", "ignored"]


class LiveKitWebhookIntake:
    """The webhook endpoint over one container's verifier and session events, asked for per delivery."""

    def __init__(self, verifier: Callable[[], WebhookVerifier], events: Callable[[], SessionEvents]) -> None:
        self._verifier = verifier
        self._events = events

    async def receive_webhook(
        self, request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
    ) -> WebhookAccepted:
        if not authorization:
            raise WebhookNotVerified("no Authorization header")
        event = self._verifier().verify(await request.body(), authorization)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in WEBHOOK_MEDIA_TYPES:
            raise WebhookNotReadable("the Content-Type is not JSON")
        applied = await self._events().handle(event)
        return WebhookAccepted(status="applied" if applied else "ignored")


def livekit_webhooks_router(
    *,
    verifier: Callable[[], WebhookVerifier],
    events: Callable[[], SessionEvents],
    path: str = WEBHOOK_PATH,
) -> APIRouter:
    router = APIRouter(tags=["livekit"])
    router.add_api_route(
        path,
        LiveKitWebhookIntake(verifier, events).receive_webhook,
        methods=["POST"],
        summary="Receive a LiveKit webhook",
        description=(
            "Point the LiveKit server's `webhook.urls` here (signed with the same API key). "
            "Answers 200 for every verified delivery, duplicates included. The signature is checked "
            "first: an unsigned request is 401 whatever it carries. A signed body must be sent as "
            "`application/webhook+json` (what LiveKit sends) or `application/json`."
        ),
        operation_id="receiveLiveKitWebhook",
        responses={401: openapi_error(WEBHOOK_NOT_VERIFIED), 400: openapi_error(WEBHOOK_NOT_READABLE)},
    )
    return router
