#!/usr/bin/env bash
# The whole suite: lint, types, import contracts, then every test (real LiveKit included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff";          ruff check . && ruff format --check .
echo "== mypy --strict"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
