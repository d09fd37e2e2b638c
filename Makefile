# Two commands do all set-up on a fresh machine (Python 3.11):
#   make run    start the dashboard (creates .venv and installs requirements on first use)
#   make test   run the whole test suite, browser test included
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CLUSTER := $(VENV)/.cluster-installed

.PHONY: run test bench browser data clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Ray, for the cluster executor (core/engine/ray_executor.py): the tests need it, `make run` does not.
$(CLUSTER): requirements-cluster.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-cluster.txt
	touch $(CLUSTER)

run: $(STAMP)
	$(BIN)/python -m compileall -q core app > /dev/null
	$(BIN)/python -m streamlit run app/main.py --server.address 127.0.0.1 --browser.gatherUsageStats false

browser: $(STAMP)
	bash scripts/ensure_browser.sh $(BIN)/python

# The real data sets the tests check (under CI=true a missing one fails the suite instead of skipping).
data: $(STAMP)
	$(BIN)/python -m core.data --dataset mnist --quiet > /dev/null
	$(BIN)/python -m core.data --dataset fashion-mnist --quiet > /dev/null

# compileall first: the suite's threads then import from .pyc instead of compiling sources side by side,
# which CPython 3.11.7 can fail at on a fresh clone ("SystemError: AST constructor recursion depth mismatch").
test: $(STAMP) $(CLUSTER) browser data
	$(BIN)/python -m compileall -q core app tests > /dev/null
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/pseudograd_bench.py
	$(BIN)/python benchmarks/toy_bench.py
	$(BIN)/python benchmarks/mnist_bench.py
	test -f $(VENV)/.cluster-installed && $(BIN)/python benchmarks/engine_bench.py || echo "engine_bench needs Ray: make test installs it"

clean:
	rm -rf $(VENV) .pytest_cache artifacts

# README's study tables (and assets/study_depth.png) from the committed assets/study_*.json files.
.PHONY: results
results: $(STAMP)
	$(BIN)/python scripts/results.py
