# Every target creates the virtualenv and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-peers plots lint size clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest tests
	TENSORIR_CACHE_DIR=$$(mktemp -d) $(PY) -m pytest --doctest-modules tensorir

bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/kernels.py
	$(PY) benchmarks/matmul.py

# Optional peers, never test dependencies: JAX from PyPI, PyTorch's CPU-only build (no CUDA)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
bench-peers: $(STAMP)
	$(PY) -m pip install -q "jax[cpu]"
	$(PY) -m pip install -q torch --index-url $(TORCH_INDEX)
	$(PY) benchmarks/kernels.py
	$(PY) benchmarks/sgd_step.py --threads 1
	$(PY) benchmarks/sgd_step.py --threads $$($(PY) -c "import os; print(len(os.sched_getaffinity(0)))")

plots: $(STAMP)
	$(PY) -m pip install -q -e ".[plots]"
	$(PY) benchmarks/plots.py

lint: $(STAMP)
	$(PY) -m ruff check tensorir tests benchmarks examples
	$(PY) -m ruff format --check tensorir tests benchmarks examples

size:
	@find tensorir -name '*.py' | xargs cat | grep -cv '^\s*\(#.*\)\?$$'

clean:
	rm -rf $(VENV) build *.egg-info
