#!/usr/bin/env bash
# Set up if needed, then serve the API with a local LiveKit server (unless LIVEKIT_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec python -m devtools.serve "$@"
