# fastloss: `make bench` (the main job) and `make test` each set everything up from scratch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fastloss-installed
KERNEL_SOURCES := $(wildcard fastloss/_kernels/*.pyx fastloss/_kernels/*.pxd fastloss/_kernels/*.tp fastloss/_kernels/*.h)
BENCH_ARGS ?= --quick

.PHONY: all install test bench bench-pytest sanitize clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)

# Editable install: builds the Cython kernels in place; re-runs when a kernel source changes.
$(STAMP): $(PY) pyproject.toml setup.py $(KERNEL_SOURCES)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m fastloss bench $(BENCH_ARGS)

bench-pytest: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only

clean:
	rm -rf build $(VENV) fastloss/_kernels/*.c fastloss/_kernels/*.so fastloss/*.so fastloss/_build_info.py
	rm -f fastloss/_kernels/_regression.pyx fastloss/_kernels/_binary.pyx
