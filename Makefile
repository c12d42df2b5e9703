# The README's contract: `make run` and `make test` work on a fresh clone with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: run test lint fmt bench install clean proto

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/eventfold run

# The *_pb2.py modules of the .proto files (pip install runs the same hatch_build.py hook).
proto: $(STAMP)
	$(BIN)/python hatch_build.py

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

test: $(STAMP) lint
	$(BIN)/pytest -n 2 --dist loadgroup

# Figures are printed and written to bench/results/*.json. Run on a quiet machine.
bench: $(STAMP)
	$(BIN)/python bench/write_path.py
	$(BIN)/python bench/read_path.py
	$(BIN)/python bench/aws_cost.py
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .eventfold .mypy_cache .pytest_cache .ruff_cache
