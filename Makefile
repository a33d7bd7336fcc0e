# hydratune on a fresh machine: `make sweep` runs the main job, `make test` runs the tests.
# Each sets up .venv first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU-only default. With a GPU: `make setup TORCH=torch` (or install your CUDA torch into
# .venv first: setup keeps any torch that is already there).
TORCH ?= torch==2.13.0
EXTRAS ?= dev,postgres,ray,dashboard,report,slurm,grpc,mlflow,serve,bench
# HEBO's own venv (its pins clash with ours; about 2.5 min; unpinned, pip resolves for over
# 10 min and reaches for a CUDA torch): bench/search/hebo_contender.py runs it in a subprocess.
# If it does not build, it is removed and HEBO's rows say its venv is missing. `make test`
# builds it too, for the test of that subprocess.
HEBO_VENV ?= .venv-hebo
HEBO_PINS := HEBO==0.3.6 "$(TORCH)" "numpy<1.25" "pandas<2.3" "scipy<=1.12" "matplotlib<3.10" "scikit-learn<1.7"

.PHONY: setup services sweep test test-fast bench bench-quick bench-studies bench-cluster bench-search lint

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

sweep: setup
	$(BIN)/hydratune -m sweep=mlp_digits

# Services the tests and benchmarks run for real (PostgreSQL, headless Chromium, Slurm), from
# Debian's packages; nothing to do when they are there.
services:
	@bash scripts/install-test-services.sh

# Both cores (pytest-xdist); each service's tests share one worker (tests/conftest.py). Lint
# first: a second of ruff, so CI also holds the style. The 25 slowest tests close the log: a
# CI run near the 15-minute target shows where its time went.
test: setup lint services $(HEBO_VENV)/bin/python
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

# The inner loop, on both cores, in-process: no services, browsers, Ray, benchmarks, Lightning
# sweeps, local worker pools (`slow`), and no test that starts hydratune or Python as a process of
# its own (`cli`). 912 tests: `make test-fast` 77 s on 2 cores, nothing else running
# (a clean clone, 2026-12-06 10:00; 76-97 s for 868 on slower hours that morning); the target
# is 90 s.
# Find what dominates with: pytest --durations=30 -m "$(FAST)"
FAST := not slow and not cli and not postgres and not chromium and not ray and not slurm and not mlflow and not bench
test-fast: setup
	$(BIN)/python -m pytest -n 2 -m "$(FAST)"

# The benchmarks install what they time: Chromium (the page and the report's PNGs), PostgreSQL
# and Slurm (bench/cluster/); without it their rows would be left out.
bench: setup services
	$(BIN)/python bench/run.py

bench-quick: setup services
	$(BIN)/python bench/run.py --quick --out $${TMPDIR:-/tmp}/hydratune-bench-quick

# Research studies (bench/studies/: pruning, peers); their findings are in bench/studies/FINDINGS.md.
bench-studies: setup
	$(BIN)/python bench/run.py --studies

# Cluster benchmarks (bench/cluster/: Slurm, many workers on PostgreSQL); they start the services.
bench-cluster: setup services
	$(BIN)/python bench/run.py --cluster

# Search quality against SMAC3, nevergrad, HEBO and Optuna's samplers (bench/search/: BBOB,
# bbob-mixint, Bayesmark-style tasks), niced; a subset (about 50 min on 2 shared cores, HEBO's
# 4.5 s a suggestion included) unless FULL=1.
bench-search: setup $(HEBO_VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[bench]"
	HYDRATUNE_HEBO_PYTHON=$(abspath $(HEBO_VENV))/bin/python \
		nice -n 10 $(BIN)/python bench/run.py --search $(if $(FULL),--full)

$(HEBO_VENV)/bin/python:
	$(PYTHON) -m venv $(HEBO_VENV) && $(HEBO_VENV)/bin/python -m pip install -q $(HEBO_PINS) \
		|| { rm -rf $(HEBO_VENV); echo "HEBO's venv did not build: bench-search runs without it"; }

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
