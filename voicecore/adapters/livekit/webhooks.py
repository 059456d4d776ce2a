"""The WebhookVerifier on livekit-api's WebhookReceiver: LiveKit's webhook events, verified and translated."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
from google.protobuf import json_format
from livekit import api

from voicecore.core.errors import WebhookNotReadable, WebhookNotVerified
from voicecore.core.events import RoomEvent, RoomEventKind, WebhookVerifier

_EVENT_KINDS = {kind.value: kind for kind in RoomEventKind}


class LiveKitWebhookVerifier(WebhookVerifier):
    """livekit-api's ``WebhookReceiver``: the JWT (issuer = our API key, exp with a
    minute's leeway) and the body's SHA-256, then the event."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._receiver = api.WebhookReceiver(api.TokenVerifier(api_key, api_secret))

    def verify(self, body: str, authorization: str) -> RoomEvent:
        try:
            event = self._receiver.receive(body, authorization)
        except jwt.PyJWTError as exc:
            raise WebhookNotVerified("the token is not valid") from exc
        except json_format.ParseError as exc:
            raise WebhookNotReadable("not a webhook event") from exc
        except Exception as exc:
            raise WebhookNotVerified("the body does not match the token") from exc
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
