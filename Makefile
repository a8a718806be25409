# stormpack — everything a fresh machine needs is installed by these targets.
#   make build   set up, then compile the whole pack for every target into build/
#   make test    set up, then run every test (this is what .ci/run runs)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stormpack-installed
KQLCHECK := tools/kqlcheck
NODE_STAMP := $(KQLCHECK)/node_modules/.stormpack-installed

.PHONY: setup build test golden fuzz fmt lint typecheck bench bench-jobs bench-evtx bench-baseline noise clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

$(NODE_STAMP): $(KQLCHECK)/package.json $(KQLCHECK)/package-lock.json
	cd $(KQLCHECK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium for the HTML report test (tests/test_report.py); Debian's package, as root.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

setup: $(STAMP) $(NODE_STAMP) $(CHROMIUM)

build: setup
	$(BIN)/stormpack build

# Static checks first (ruff, mypy --strict on the package), then every test, spread over every
# CPU with pytest-xdist (PYTEST_WORKERS=0 runs them in this one process).
PYTEST_WORKERS ?= auto
test: setup lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

# Regenerate the committed golden files (compiled output of every rule for every target).
golden: setup
	$(BIN)/stormpack golden --write

# Longer property-based / fuzz runs than the bounded ones `make test` runs.
fuzz: setup
	STORMPACK_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -m fuzz tests

fmt: setup
	$(BIN)/stormpack fmt rules/

lint: setup
	$(BIN)/ruff check compiler tests bench
	$(BIN)/mypy

typecheck: lint

bench: setup
	$(BIN)/python bench/run_bench.py

bench-jobs: setup
	$(BIN)/python bench/jobs_startup.py

bench-evtx: setup
	$(BIN)/python bench/evtx_throughput.py

# The alert budget: generate the benign tenant month with its labelled intrusions, learn the
# values on the first half (stormpack baseline), hunt the second, write docs/noise.md.
noise: setup
	$(BIN)/python bench/noise/evaluate.py

bench-baseline: setup
	$(BIN)/python bench/baseline_throughput.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
