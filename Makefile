# One place for every command a developer or CI runs. The virtualenv is made here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MNIST  ?= ../shared/data/mnist
export MOVMNIST_MNIST_DIR ?= $(abspath $(MNIST))

.PHONY: run test lint types pytest bench install dev clean

$(BIN)/activate:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "movmnist needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml movmnist/core/_kernel.c | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

# The DataLoader test's torch, as pyproject.toml's test-torch pins it, from PyTorch's CPU index
# first: from PyPI alone, Linux gets the CUDA build (~5.5 GB). Where that index is out of
# reach, pip warns, retries for a few seconds and takes torch from the other indexes.
TORCH       := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(VENV)/.dev: pyproject.toml movmnist/core/_kernel.c | $(BIN)/activate
	$(BIN)/pip install --quiet --no-deps --extra-index-url $(TORCH_INDEX) '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[dev,test-torch,dask,ray,tfds]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

## make run: build the demo dataset (the MNIST sample shipped in the package, no download) and write a preview GIF
run: install
	$(BIN)/movmnist build configs/demo.yaml --out data/demo --overwrite
	$(BIN)/movmnist preview data/demo --split test --gif data/demo-preview.gif
	@echo "preview: data/demo-preview.gif"
	@echo "the movmnist command is $(BIN)/movmnist (or: source $(BIN)/activate, then movmnist ...)"

## make test: lint, types and the test suite
test: lint types pytest

lint: dev
	$(BIN)/ruff check movmnist tests bench scripts
	$(BIN)/ruff format --check movmnist tests bench scripts

types: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/pytest -q

## make bench: every bench/bench_*.py in turn; each prints its table and merges its figures into bench/results.json
bench: dev
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
