# Thin aliases of scripts/dev.sh (which works without make).
.PHONY: run test bench setup lint
run:
	bash scripts/dev.sh run
test:
	bash scripts/dev.sh test
bench:
	bash scripts/dev.sh bench
setup:
	bash scripts/dev.sh setup
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
