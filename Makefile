# The README's contract: `make run` and `make test` work on a fresh clone with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint fmt bench install clean proto browser screenshots

# eventfold (the toolkit, every extra) and the reference services (examples/, a project of
# their own), both editable, in one resolution.
$(STAMP): pyproject.toml examples/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]' -e ./examples
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/eventfold run

# The *_pb2.py modules of the examples' .proto files (installing examples/ runs the same
# examples/hatch_build.py hook).
proto: $(STAMP)
	$(BIN)/python examples/hatch_build.py

lint: $(STAMP) proto
	$(BIN)/eventfold schema check examples/*/proto
	$(BIN)/ruff check src examples tests bench
	$(BIN)/ruff format --check src examples tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench
	$(BIN)/lint-imports
	$(BIN)/cfn-lint --include-checks I -- deploy/aws/template.yaml

fmt: $(STAMP)
	$(BIN)/ruff check --fix src examples tests bench
	$(BIN)/ruff format src examples tests bench

test: $(STAMP) lint browser
	$(BIN)/pytest -n 2 --dist loadgroup

# The browser tests drive Debian's Chromium (Playwright's own browser downloads are not
# used): installed once with apt-get (as root, or with sudo) when it is missing.
browser:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core >/dev/null; }

# The console's screenshots in docs/console/ (shown in the README), from the browser tests.
screenshots: $(STAMP) browser
	EVENTFOLD_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/eventfold/entry/console/test_browser.py

# Figures are printed and written to bench/results/*.json. Run on a quiet machine.
bench: $(STAMP)
	$(BIN)/python bench/write_path.py
	$(BIN)/python bench/read_path.py
	$(BIN)/python bench/aws_cost.py
	$(BIN)/python bench/dependency_cost.py
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .eventfold .mypy_cache .pytest_cache .ruff_cache
