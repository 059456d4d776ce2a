#!/usr/bin/env bash
# The whole suite: set up, the static checks, then every test (real LiveKit included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh
source scripts/env.sh
echo "== pytest"
set +e
# Most tests wait on real servers rather than compute, so more workers than cores pay:
# on the 2-core machine, 4 workers take the suite from about 20 minutes to about 8
# (tests/README.md). Each worker starts its own servers, on free ports.
# --dist loadfile keeps a file on one worker, so module-scoped services start once.
pytest -n "${TEST_WORKERS:-4}" --dist loadfile --durations=20 "$@"  # the slowest twenty say where a slower suite went
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
