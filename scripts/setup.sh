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
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing voicecore and its dev dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # An editable install (hatchling's: a path entry, which mypy follows from a user's script too).
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi

# --- Debian packages the tests need ---------------------------------------------
# redis-server for the Redis session store; postgresql for the journal; chromium (driven by Playwright, never
# `playwright install`) and npm (the livekit-client bundle) for the real-browser tests;
# unshare and ip give each browser test its own network namespace.
system_packages=()
command -v redis-server >/dev/null 2>&1 || [ -n "${REDIS_SERVER_BIN:-}" ] || system_packages+=(redis-server)
# PostgreSQL 15 for the journal at scale (run per test run as Debian's postgres user).
[ -x /usr/lib/postgresql/15/bin/initdb ] || [ -n "${POSTGRES_BIN_DIR:-}" ] || system_packages+=(postgresql)
[ -x /usr/bin/chromium ] || system_packages+=(chromium)
command -v npm >/dev/null 2>&1 || system_packages+=(npm)
command -v unshare >/dev/null 2>&1 || system_packages+=(util-linux)
command -v ip >/dev/null 2>&1 || system_packages+=(iproute2)
if [ "${#system_packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "the tests need: ${system_packages[*]} (apt-get install, as root)"; exit 1
  fi
  say "installing ${system_packages[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${system_packages[@]}" >/dev/null
fi
# livekit-client as pinned in web/package-lock.json (the demo page, the browser tests);
# npm ci again only when the lockfile changed since the last install.
web_stamp="web/node_modules/.voicecore-lock-sha256"
web_lock="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$web_stamp" 2>/dev/null)" != "$web_lock" ]; then
  say "installing web/ dependencies (npm ci)"
  (cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$web_lock" > "$web_stamp"
fi

# --- the pinned livekit-server: every real-LiveKit test needs it, so no setup succeeds without it
server="$TOOLS_BIN/livekit-server"
if [ -x "$server" ] && [ "$(cat "$server.version" 2>/dev/null)" = "$LIVEKIT_SERVER_VERSION" ]; then
  exit 0
fi
if [ -n "${LIVEKIT_SERVER_BIN:-}" ]; then
  if [ -x "$LIVEKIT_SERVER_BIN" ]; then
    say "using LIVEKIT_SERVER_BIN=$LIVEKIT_SERVER_BIN instead of building livekit-server $LIVEKIT_SERVER_VERSION"
    exit 0
  fi
  say "LIVEKIT_SERVER_BIN=$LIVEKIT_SERVER_BIN is not an executable file"
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed, so the pinned livekit-server $LIVEKIT_SERVER_VERSION cannot be built:"
  say "the real-LiveKit tests need it. Install Go 1.26+ and run 'make setup' again,"
  say "or set LIVEKIT_SERVER_BIN to a livekit-server binary."
  exit 1
fi
say "building livekit-server $LIVEKIT_SERVER_VERSION with go install (about 2 minutes on 2 cores)"
mkdir -p "$TOOLS_BIN"
started=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$TOOLS_BIN" \
  go install "$LIVEKIT_SERVER_MODULE@$LIVEKIT_SERVER_VERSION"
mv "$TOOLS_BIN/server" "$server"
echo "$LIVEKIT_SERVER_VERSION" > "$server.version"
say "livekit-server ready in $(( $(date +%s) - started ))s: $server"
