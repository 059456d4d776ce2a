"""``make serve``: the API plus, by default, a local LiveKit server, for development.

If LIVEKIT_URL is configured (environment or .env), that server is used as is;
otherwise the pinned livekit-server is started on loopback with fresh keys. An
AUTH_JWT_SECRET is generated when none is configured, and a development user
token is printed with a ready-to-paste request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator, Sequence

import jwt
import uvicorn
from dotenv import dotenv_values

from voicecore.devserver import LiveKitServerUnavailable, free_port, running_livekit_server
from voicecore.settings import SettingsError
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging


def _configured(name: str) -> str | None:
    return os.environ.get(name) or dotenv_values(".env").get(name) or None


@contextlib.contextmanager
def _livekit() -> Iterator[str]:
    if _configured("LIVEKIT_URL"):
        yield "configured"
        return
    with running_livekit_server() as server:
        os.environ.update(
            LIVEKIT_URL=server.url, LIVEKIT_API_KEY=server.api_key, LIVEKIT_API_SECRET=server.api_secret
        )
        yield f"local livekit-server at {server.url} (log: {server.log_path})"


def dev_user_token(secret: str, user_id: str = "dev-user", email: str = "dev@example.com") -> str:
    claims = {"sub": user_id, "email": email, "exp": int(time.time()) + 24 * 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicecore-dev", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    port = args.port if args.port else free_port()

    if not _configured("AUTH_JWT_SECRET"):
        os.environ["AUTH_JWT_SECRET"] = secrets.token_urlsafe(32)
    try:
        with _livekit() as livekit_description:
            container = ServiceContainer()
            app = create_app(container)
            http = container.http_settings()
            configure_logging(http.log_format, http.log_level)
            token = dev_user_token(http.auth_jwt_secret.get_secret_value())
            base = f"http://{args.host}:{port}"
            print(
                f"\nvoicecore API     {base}  (docs: {base}/docs)\n"
                f"LiveKit           {livekit_description}\n"
                f"dev user token    (user dev-user, valid 24 h)\n\n"
                f"  export TOKEN={token}\n"
                f"  curl -s -X POST {base}/api/v1/voice-sessions \\\n"
                f'    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\n'
                f'    -d \'{{"agent_type": "workout"}}\'\n',
                flush=True,
            )
            uvicorn.run(app, host=args.host, port=port, log_config=None)
    except (SettingsError, LiveKitServerUnavailable) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
