.PHONY: setup test serve bench bench-quick lint

setup:
	bash scripts/setup.sh

test:
	bash scripts/test.sh

serve:
	bash scripts/serve.sh

lint:
	bash scripts/setup.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports
