# Two entry points (see README): `make demo` and `make test`.
# The venv is created once; torch is installed first and pinned as a
# constraint so no later install can pull a multi-GB CUDA build on a CPU box.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
CORES  ?= 2
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip
# pipefail so a failed install fails make; sed (not grep) drops the noisy
# warnings about absent local index folders without changing the status.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
QUIET := sed "/^WARNING: Location/d"

.PHONY: venv demo test lint bench clean

$(BIN)/brainpipe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	echo "$(TORCH)" > $(VENV)/constraints.txt
	$(PIP) install -q "$(TORCH)" 2>&1 | $(QUIET)
	$(PIP) install -q -c $(VENV)/constraints.txt -e ".[test]" 2>&1 | $(QUIET)
	$(BIN)/python -c "import brainpipe, torch; print('brainpipe ready, torch', torch.__version__)"
	# compile the Numba kernels once, into their on-disk cache (about 30 s):
	# otherwise the first jobs of every fresh run compile them side by side
	OMP_NUM_THREADS=1 $(BIN)/python -m brainpipe.kernels.compile
	# bytecode of our own (editable) sources, as pip writes it for what it
	# installs: a job then loads it even where PYTHONDONTWRITEBYTECODE is set
	$(BIN)/python -m compileall -q src
	touch $(BIN)/brainpipe

venv: $(BIN)/brainpipe

# One BLAS thread per job: Snakemake already runs CORES jobs side by side, and
# threaded BLAS on our small matrices is many times slower than one thread.
RUNENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

demo: venv
	$(RUNENV) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)

test: venv
	$(RUNENV) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest tests -q

lint: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint

bench: venv
	$(BIN)/python benchmarks/bench_covariance.py
	$(BIN)/python benchmarks/bench_acm_search.py

clean:
	rm -rf results .snakemake
