#!/usr/bin/env bash
# The whole suite: set up, the static checks, then every test (real LiveKit included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh
source scripts/env.sh
echo "== pytest"
set +e
pytest --durations=20 "$@"  # the slowest twenty, so a slower suite says where
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
