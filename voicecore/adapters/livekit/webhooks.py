"""The WebhookVerifier on livekit-api: LiveKit's webhook events, verified and translated.

livekit-api's ``WebhookReceiver.receive`` takes the body as text, so a body would have
to be decoded before its signature is checked, and a request nobody signed could tell
a body that is not UTF-8 from one that is. This does the receiver's three steps on the
bytes as received, in an order that tells an unsigned request nothing: the token by
livekit-api's ``TokenVerifier`` (the JWT, issuer = our API key, exp with a minute's
leeway), then the body's SHA-256 against the token's, then UTF-8 and the event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

import jwt
from google.protobuf import json_format
from livekit import api

from voicecore.core.errors import WebhookNotReadable, WebhookNotVerified
from voicecore.core.events import RoomEvent, RoomEventKind, WebhookVerifier

_EVENT_KINDS = {kind.value: kind for kind in RoomEventKind}


def _signed(body: bytes, sha256: str | None) -> bool:
    """Whether ``sha256`` (the token's claim, base64) is the hash of these bytes."""
    if not sha256:
        return False
    try:
        expected = base64.b64decode(sha256, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hashlib.sha256(body).digest(), expected)


class LiveKitWebhookVerifier(WebhookVerifier):
    def __init__(self, api_key: str, api_secret: str) -> None:
        self._tokens = api.TokenVerifier(api_key, api_secret)

    def verify(self, body: bytes, authorization: str) -> RoomEvent:
        try:
            claims = self._tokens.verify(authorization)
        except jwt.PyJWTError as exc:
            raise WebhookNotVerified("the token is not valid") from exc
        except Exception as exc:  # a signed token with grants livekit-api cannot read
            raise WebhookNotVerified("the token's claims are not readable") from exc
        if not _signed(body, claims.sha256):
            raise WebhookNotVerified("the body does not match the token")
        try:
            event = json_format.Parse(body.decode("utf-8"), api.WebhookEvent(), ignore_unknown_fields=True)
        except UnicodeDecodeError:
            raise WebhookNotReadable("the body is not UTF-8") from None
        except json_format.ParseError as exc:
            raise WebhookNotReadable("not a webhook event") from exc
        if not event.id or not event.event:
            raise WebhookNotReadable("no id or event")
        participant = event.participant if event.HasField("participant") else None
        # createdAt is in whole seconds; a participant's joinedAtMs is exact, and nothing about
        # a participant happens before it joined: without it, an agent leaving in the second the
        # session was created would seem to have left before the session's first dispatch.
        moment = float(event.created_at)
        if participant is not None and participant.joined_at_ms:
            moment = max(moment, participant.joined_at_ms / 1000)
        return RoomEvent(
            id=event.id,
            kind=_EVENT_KINDS.get(event.event, event.event),
            room_name=event.room.name,
            room_metadata=event.room.metadata,
            created_at=datetime.fromtimestamp(moment, UTC),
            participant_identity=participant.identity if participant else None,
            participant_is_agent=participant is not None
            and participant.kind == api.ParticipantInfo.Kind.AGENT,
        )
