"""The LiveKit adapter, on livekit-api: the only package that imports livekit.

gateway.py (rooms, participants, agent dispatch), tokens.py (join tokens),
webhooks.py (verified events), translation.py (livekit-api's failures into
GatewayError, in one place), server_tokens.py (server API tokens reused while fresh).
"""

from voicecore.adapters.livekit.gateway import DEFAULT_REQUEST_TIMEOUT_SECONDS, LiveKitRoomGateway
from voicecore.adapters.livekit.server_tokens import SERVER_TOKEN_TTL, ServerTokens
from voicecore.adapters.livekit.tokens import LiveKitTokenIssuer
from voicecore.adapters.livekit.webhooks import LiveKitWebhookVerifier

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "SERVER_TOKEN_TTL",
    "LiveKitRoomGateway",
    "LiveKitTokenIssuer",
    "LiveKitWebhookVerifier",
    "ServerTokens",
]
