"""An app backend receiving voicecore's session events: FastAPI plus the Standard Webhooks verifier.

Run it: ``APP_WEBHOOK_SECRET=whsec_... python docs/examples/webhook_receiver.py --port 8100``
and point voicecore at it: ``APP_WEBHOOK_URL=http://127.0.0.1:8100/webhooks/voicecore``
with the same ``APP_WEBHOOK_SECRET``. It prints each verified event once.
(tests/app_webhooks/test_receiver_example.py runs exactly this file; ``make serve``
starts it as its development receiver.)
"""

from __future__ import annotations

import argparse
import os
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request, Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from voicecore.webhook_schema import SessionEnded, SessionEvent, parse_event

PATH = "/webhooks/voicecore"


def create_receiver(secrets: str) -> FastAPI:
    """``secrets``: one or more whsec_ secrets, space-separated (two while a key rotates)."""
    verifiers = [Webhook(secret) for secret in secrets.split()]
    seen: set[str] = set()  # a real backend keeps these in its database, with what it did
    app = FastAPI()

    @app.post(PATH, status_code=204)
    async def receive(request: Request, webhook_id: Annotated[str, Header()]) -> Response:
        body = await request.body()  # the raw bytes: what was signed
        if not any(verified(verifier, body, dict(request.headers)) for verifier in verifiers):
            raise HTTPException(status_code=401, detail="not signed by voicecore")
        if webhook_id not in seen:  # a retry of an event already handled: acknowledge it again
            seen.add(webhook_id)
            handle(parse_event(body))
        return Response(status_code=204)

    return app


def verified(verifier: Webhook, body: bytes, headers: dict[str, str]) -> bool:
    try:
        verifier.verify(body, headers)  # signature, and a timestamp within five minutes
    except WebhookVerificationError:
        return False
    return True


def handle(event: SessionEvent) -> None:
    """Where the app reacts: a push notification, a workout summary, billing, a support alert."""
    session = event.data
    line = f"verified {event.type} {session.room_name} #{session.sequence} user={session.user_id}"
    if isinstance(event, SessionEnded):
        line += f" reason={event.data.end_reason.value} duration={event.data.duration_seconds}s"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive voicecore's session events and print them.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    app = create_receiver(os.environ["APP_WEBHOOK_SECRET"])
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
