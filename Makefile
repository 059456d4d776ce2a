.PHONY: setup test serve bench bench-quick lint

setup:
	bash scripts/setup.sh

test:
	bash scripts/test.sh

serve:
	bash scripts/serve.sh

lint:
	bash scripts/setup.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

# Benchmarks of the HTTP service against direct livekit-api calls (docs/benchmarks.md).
# Each starts its own LiveKit server and service; figures go to bench-results/latest.json.
bench:
	bash scripts/setup.sh && .venv/bin/python -m bench.run

bench-quick:
	bash scripts/setup.sh && .venv/bin/python -m bench.run --quick
