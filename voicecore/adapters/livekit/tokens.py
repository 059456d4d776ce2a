"""LiveKitTokenIssuer: join tokens signed with livekit-api's AccessToken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from livekit import api

from voicecore.core.domain import User
from voicecore.core.ports import IssuedToken, TokenIssuer


class LiveKitTokenIssuer(TokenIssuer):
    """Join tokens signed with the API secret: join one room, talk, nothing more.

    ``server_url`` is handed to clients with each token, exactly as given.
    """

    def __init__(self, api_key: str, api_secret: str, *, server_url: str) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._server_url = server_url

    def issue(self, user: User, room_name: str, ttl: timedelta) -> IssuedToken:
        grants = api.VideoGrants(
            room_join=True,
            room=room_name,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
        )
        signed = (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(user.id)
            .with_name(user.display_name)
            .with_grants(grants)
            .with_ttl(ttl)
            .to_jwt()
        )
        # AccessToken stamps exp from its own clock in whole seconds; read it back
        # (we signed it a line ago, so no need to verify) so expires_at == exp.
        claims = jwt.decode(signed, options={"verify_signature": False})
        return IssuedToken(
            token=signed, expires_at=datetime.fromtimestamp(claims["exp"], UTC), server_url=self._server_url
        )
