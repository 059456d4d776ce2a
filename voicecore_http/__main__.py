"""``python -m voicecore_http --host 127.0.0.1 --port 8000`` (also the ``voicecore-http`` script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voicecore.settings import SettingsError
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicecore-http", description="Serve the voicecore HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--env-file",
        default=None,
        help="also read settings from this file (the environment wins); by default only the environment",
    )
    args = parser.parse_args(argv)

    try:
        container = ServiceContainer.from_environment(env_file=args.env_file)
        app = create_app(container)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    http_settings = container.http_settings()
    configure_logging(http_settings.log_format, http_settings.log_level)
    serve(app, http_settings, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
