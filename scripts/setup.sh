#!/usr/bin/env bash
# Idempotent set-up: a virtualenv with voicecore and its dev tools, and the
# pinned LiveKit server built with `go install` into .tools/bin (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

LIVEKIT_SERVER_MODULE="github.com/livekit/livekit-server/cmd/server"
LIVEKIT_SERVER_VERSION="v1.13.5"
TOOLS_BIN="$PWD/.tools/bin"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*" >&2; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { say "Python 3.11+ is required (found $("$PYTHON" --version 2>&1))"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.voicecore-installed"
want="$( (cat pyproject.toml; echo "editable_mode=compat") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing voicecore and its dev dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # compat mode: a plain path entry, so mypy finds the package from a user's script too.
  .venv/bin/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
  echo "$want" > "$stamp"
fi

# Redis (Debian's redis-server): the Redis session store's tests start one on loopback.
if ! command -v redis-server >/dev/null 2>&1 && [ -z "${REDIS_SERVER_BIN:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    say "redis-server is missing: run 'sudo apt-get install redis-server' or set REDIS_SERVER_BIN"
  fi
fi

# The demo page's browser dependencies: livekit-client as pinned in web/package-lock.json.
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing nodejs and npm with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    say "npm is missing: run 'sudo apt-get install nodejs npm' (the demo page needs it)"
  fi
fi
if command -v npm >/dev/null 2>&1; then
  web_stamp="web/node_modules/.voicecore-installed"
  web_want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$web_stamp" 2>/dev/null)" != "$web_want" ]; then
    say "installing web/ dependencies with npm ci"
    (cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$web_want" > "$web_stamp"
  fi
fi

server="$TOOLS_BIN/livekit-server"
if [ -x "$server" ] && [ "$(cat "$server.version" 2>/dev/null)" = "$LIVEKIT_SERVER_VERSION" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed: the real-LiveKit tests need it to build the pinned server."
  say "Install Go 1.26+ and re-run, or point LIVEKIT_SERVER_BIN at a livekit-server binary."
  exit 0
fi
say "building livekit-server $LIVEKIT_SERVER_VERSION with go install (about 2 minutes on 2 cores)"
mkdir -p "$TOOLS_BIN"
started=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$TOOLS_BIN" \
  go install "$LIVEKIT_SERVER_MODULE@$LIVEKIT_SERVER_VERSION"
mv "$TOOLS_BIN/server" "$server"
echo "$LIVEKIT_SERVER_VERSION" > "$server.version"
say "livekit-server ready in $(( $(date +%s) - started ))s: $server"
