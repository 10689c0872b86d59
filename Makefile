# Two commands set everything up:  `make lab`  and  `make test`.
# Both create .venv with the toolkit and its notebook/test tools on first use.

PYTHON      ?= python3.11
VENV        ?= .venv
BIN         := $(VENV)/bin
# The torch build CI uses. Override for your own CUDA/CPU wheel, e.g.
#   make test TORCH_PINS="torch torchvision"
TORCH_PINS  ?= torch==2.14.1 torchvision==0.29.1
NOTEBOOK    ?= notebooks/01_dense_relations.ipynb
STAMP       := $(VENV)/.installed

.PHONY: help install lab test test-fast notebooks demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run e.g. 'make test PYTHON=python3'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the toolkit with its dev extras

lab: $(STAMP)  ## open JupyterLab on the first notebook
	$(BIN)/jupyter lab $(NOTEBOOK)

test: $(STAMP)  ## every unit test and every notebook (pytest --nbval)
	$(BIN)/python -m pytest --nbval

test-fast: $(STAMP)  ## unit tests only, no notebooks, no browser
	$(BIN)/python -m pytest tests -m "not slow and not browser"

notebooks: $(STAMP)  ## regenerate notebooks from their py:percent twins and execute them in place
	$(BIN)/python tools/build_notebooks.py

demo: $(STAMP)  ## teacher + CE/KD/DKD/LDRRLD students on digits, offline, about a minute
	$(BIN)/ldrrld demo

bench: $(STAMP)  ## loss speed benchmark
	$(BIN)/python benchmarks/loss_speed.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
