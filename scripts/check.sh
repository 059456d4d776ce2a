#!/usr/bin/env bash
# Static checks: lint, format, types, import contracts (make lint; also the start of make test).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
echo "== ruff";             ruff check . && ruff format --check .
echo "== mypy --strict";    mypy
echo "== import contracts"; lint-imports
