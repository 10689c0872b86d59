# Two commands set everything up:  `make lab`  and  `make test`.
# Both create .venv with the toolkit and its notebook/test tools on first use.

PYTHON      ?= python3.11
VENV        ?= .venv
BIN         := $(VENV)/bin
# The torch build CI uses. Override for your own CUDA/CPU wheel, e.g.
#   make test TORCH_PINS="torch torchvision"
TORCH_PINS  ?= torch==2.14.1 torchvision==0.29.1
# Flags for `python -m venv`: VENV_ARGS=--system-site-packages TORCH_PINS= reuses a torch you have.
VENV_ARGS   ?=
NOTEBOOK    ?= notebooks/01_dense_relations.ipynb
# Extra JupyterLab flags, e.g.  make lab LAB_ARGS="--port=9999"  or, on a remote machine,
#   make lab LAB_ARGS="--ip=0.0.0.0"   (or keep 127.0.0.1 and tunnel: ssh -L 8888:localhost:8888 host)
LAB_ARGS    ?=
# The extras installed with the toolkit: dev (notebooks, tests, lint), docs (the site `make docs`
# builds, tested by make test) and ray (the cluster tests of tests/test_cluster.py run only with
# it). EXTRAS=dev leaves the site and Ray out; their tests then skip and say why.
EXTRAS      ?= dev,docs,ray
STAMP       := $(VENV)/.installed

.PHONY: help install lab test test-fast format notebooks docs demo bench evidence clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml tools/lab_overrides.json
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run e.g. 'make test PYTHON=python3'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV_ARGS) $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(strip $(TORCH_PINS)),$(BIN)/python -m pip install --quiet $(TORCH_PINS))
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@# JupyterLab in this venv never asks about news or updates (an app-level override in the
	@# venv; the user's own settings are not touched).
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp tools/lab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the toolkit with its extras (EXTRAS, default dev,docs,ray)

# JupyterLab serves the repository (README, docs, notebooks) and opens $(NOTEBOOK); the URL it
# prints (with its token) opens that notebook too. Root (containers, cloud machines) needs
# --allow-root; without a display no browser can open, so it only prints the URL. The notebooks'
# py:percent twins (notebooks/NN_*.py) stay out of the file browser.
LAB_FLAGS   := --ServerApp.root_dir="$(CURDIR)" --ServerApp.ip=127.0.0.1 \
               --LabApp.default_url=/lab/tree/$(NOTEBOOK) \
               --ContentsManager.hide_globs="['__pycache__', '*.pyc', '*.pyo', '.DS_Store', '*~', \
                                              '[0-9][0-9]_*.py', '*.egg-info', '.ipynb_checkpoints']" \
               $(if $(filter 0,$(shell id -u)),--allow-root) \
               $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

lab: $(STAMP)  ## open JupyterLab on the first notebook (extra flags: LAB_ARGS="...")
	@# Our own notebooks open trusted, so a reload shows their saved outputs and still pictures.
	@$(BIN)/jupyter trust notebooks/[0-9]*.ipynb >/dev/null 2>&1
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS)

test: $(STAMP)  ## lint and format check, then every unit test and every notebook (pytest --nbval)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --nbval

format: $(STAMP)  ## format the code and apply ruff's safe fixes, so `make test`'s lint passes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-fast: $(STAMP)  ## unit tests only, no notebooks, no browser
	$(BIN)/python -m pytest tests -m "not slow and not browser"

notebooks: $(STAMP)  ## regenerate notebooks from their py:percent twins and execute them in place
	$(BIN)/python tools/build_notebooks.py

# The site is built from the committed notebook outputs (nothing runs); tests/test_site.py builds it
# the same way in `make test` and opens it in a browser.
docs: $(STAMP)  ## build the documentation site into site/; read it with: python -m http.server -b 127.0.0.1 -d site
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

demo: $(STAMP)  ## CE/KD/DKD/LDRRLD students of the shipped teacher on the teaching problem, offline, about a minute
	$(BIN)/ldrrld demo

# The evidence behind docs/results.md and docs/sweep.md, from the committed runs where they are
# still valid (docs/evidence.tar.xz), then copied into docs/ with everything made from it.
EVIDENCE_DIR ?= runs/evidence
evidence: $(STAMP)  ## rerun (or resume) the evidence set and the sweep, 2 jobs, and write them into docs/
	mkdir -p $(EVIDENCE_DIR) runs/sweep && tar -xJf docs/evidence.tar.xz -C $(EVIDENCE_DIR) && tar -xJf docs/sweep.tar.xz -C runs/sweep
	$(BIN)/ldrrld study --evidence --jobs 2 --out-dir $(EVIDENCE_DIR) --no-progress
	cp $(EVIDENCE_DIR)/results.json docs/results.json && cp docs/results.json ldrrld_core/assets/study/results.json
	$(BIN)/ldrrld study --render docs
	$(BIN)/python tools/pack_evidence.py $(EVIDENCE_DIR)
	$(BIN)/ldrrld sweep --jobs 2 --out-dir runs/sweep/teaching --results docs/results.json --no-progress
	cp runs/sweep/teaching/sweep.json runs/sweep/teaching/sweep.md docs/
	$(BIN)/python tools/pack_evidence.py runs/sweep --archive docs/sweep.tar.xz

bench: $(STAMP)  ## loss speed benchmark
	$(BIN)/python benchmarks/loss_speed.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build site *.egg-info
