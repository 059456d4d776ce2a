.PHONY: setup test serve bench bench-quick lint

setup:
	bash scripts/setup.sh

test:
	bash scripts/test.sh

# PORT=8010 make serve (or make serve PORT=8010) serves on another port.
serve:
	bash scripts/serve.sh $(if $(PORT),--port $(PORT))

lint:
	bash scripts/setup.sh && bash scripts/check.sh

# Benchmarks of the HTTP service against direct livekit-api calls (docs/benchmarks.md).
# Each starts its own LiveKit server, redis-server and services; figures go to
# bench-results/latest.json, plots beside it.
bench:
	bash scripts/setup.sh && . scripts/env.sh && python -m bench.run

bench-quick:
	bash scripts/setup.sh && . scripts/env.sh && python -m bench.run --quick
