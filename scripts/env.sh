# Sourced by the other scripts: the project's virtualenv and the pinned livekit-server first on PATH.
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
