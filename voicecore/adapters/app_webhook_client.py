"""The app's webhook endpoint over aiohttp: one signed POST per try, on the Standard Webhooks wire.

Headers: ``webhook-id`` (the event's id, the same on every try, so the receiver
dedupes on it), ``webhook-timestamp`` (this try's time, in seconds) and
``webhook-signature``: one ``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` per
secret, space-separated, signed by the specification's own ``standardwebhooks``
package. Several secrets sign at once while a key rotates (docs/webhooks.md).

A try is bounded: the whole exchange times out after ``timeout_seconds``, at most
``MAX_ANSWER_BYTES`` of the answer are read (the status is what counts; the rest
is left unread and the connection closed), redirects are never followed, and no
proxy is taken from the environment. Every failure comes back as an ``Answer``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import aiohttp
from standardwebhooks.webhooks import Webhook

from voicecore.core.delivery_policy import Answer
from voicecore.core.errors import WrongEventLoop
from voicecore.core.journal import AppEvent
from voicecore.core.outbox import WebhookClient

MAX_ANSWER_BYTES: Final = 4096
USER_AGENT: Final = "voicecore-app-webhooks"


def signature(secrets: Sequence[Webhook], event_id: str, moment: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one signature per secret, space-separated."""
    return " ".join(secret.sign(event_id, moment, body) for secret in secrets)


class AiohttpWebhookClient(WebhookClient):
    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        timeout_seconds: float,
        clock: Callable[[], datetime],
        connections: int,
    ) -> None:
        if not secrets:
            raise ValueError("an endpoint needs at least one secret to sign with")
        self._url = url
        self._signers = [Webhook(secret) for secret in secrets]
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=self._timeout_seconds),
            trust_env=False,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, event: AppEvent) -> Answer:
        session = self._session
        if session is None:
            return Answer(failure="client closed")
        if asyncio.get_running_loop() is not self._loop:
            raise WrongEventLoop("the app webhook client")
        moment = self._clock()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.event_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature(self._signers, event.event_id, moment, event.body),
        }
        try:
            async with (
                asyncio.timeout(self._timeout_seconds),
                session.post(
                    self._url, data=event.body.encode(), headers=headers, allow_redirects=False
                ) as answer,
            ):
                # A small answer read whole lets the connection be reused; a large one is cut.
                await answer.content.read(MAX_ANSWER_BYTES)
                return Answer(status=answer.status, retry_after=answer.headers.get("Retry-After"))
        except TimeoutError:
            return Answer(failure="timeout")
        except (aiohttp.ClientError, OSError):
            return Answer(failure="connection failed")
