"""``python -m voicecore_http [--host H] [--port P]`` serves (also the ``voicecore-http`` script).

``python -m voicecore_http COMMAND ...`` runs one of the service's commands instead:
``webhooks replay`` and ``webhooks enable`` (voicecore_http/webhook_commands.py).
Every command, like serving, reads the environment, plus ``--env-file`` when given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voicecore.settings import SettingsError
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve
from voicecore_http.webhook_commands import add_webhook_commands

_ENV_FILE_HELP = "also read settings from this file (the environment wins); by default only the environment"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="voicecore-http", description="Serve the voicecore HTTP API, or run one of its commands."
    )
    main.add_argument("--host", default="127.0.0.1")
    main.add_argument("--port", type=int, default=8000)
    main.add_argument("--env-file", default=None, help=_ENV_FILE_HELP)
    # A command's own --env-file (after its name) keeps the one given before it unless it is given.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", default=argparse.SUPPRESS, help=_ENV_FILE_HELP)
    commands = main.add_subparsers(dest="command", metavar="COMMAND", title="commands (none: serve)")
    add_webhook_commands(commands, common)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is not None:
        code: int = args.run(args)
        return code
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
