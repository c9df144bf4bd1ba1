# grounded — developer entry points. `make run` and `make test` are the README's first two commands.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run serve test test-fast lint fix bench clean

install: $(STAMP)

# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/grounded serve --demo

serve: install
	$(BIN)/grounded serve

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check app ingest retrievers eval tests benchmarks
	$(BIN)/ruff format --check app ingest retrievers eval tests benchmarks

fix: install
	$(BIN)/ruff check --fix app ingest retrievers eval tests benchmarks
	$(BIN)/ruff format app ingest retrievers eval tests benchmarks

bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/ingest_scifact.py
	$(BIN)/python benchmarks/retrieval_scifact.py
	$(BIN)/python benchmarks/retrieve_latency.py
	$(BIN)/python benchmarks/rerank_scifact.py
	$(BIN)/python benchmarks/retrieval_cmrc.py
	$(BIN)/python benchmarks/latency_100k.py
	$(BIN)/python benchmarks/llamaindex_baseline.py
	$(BIN)/python benchmarks/ingest_workers.py
	$(BIN)/python benchmarks/ingest_documents.py
	$(BIN)/python benchmarks/chunking_quality.py
	$(BIN)/python benchmarks/guard_detection.py
	$(BIN)/python benchmarks/fuzz_openapi.py

clean:
	rm -rf $(VENV) data bench-out .pytest_cache
