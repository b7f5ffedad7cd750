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

# `make sanitize`: the kernels built with AddressSanitizer + UndefinedBehaviorSanitizer
# (FASTLOSS_SANITIZE=1) in a copy of the sources under $(ASAN_TREE), with its own venv
# $(ASAN_VENV), so the normal build and .venv are untouched. CPython is not instrumented, so the
# ASan runtime is preloaded and leak detection is off (CPython's own allocations would flood it).
ASAN_VENV ?= .venv-asan
ASAN_TREE ?= build/asan
ASAN_PY := $(abspath $(ASAN_VENV))/bin/python
ASAN_STAMP := $(ASAN_VENV)/.deps-installed
SANITIZE_TESTS ?= tests
# --capture=sys: a sanitizer report is written by C code to fd 2, which pytest's default fd
# capture would swallow when the run aborts on it.
# Deselected: test_show_config_and_info_command asserts the -O3 of a normal build (a sanitized
# build is -O1); test_default_threads_follow_openmp_environment starts Python with an emptied
# environment, without the ASan preload the instrumented kernels need to load.
SANITIZE_ARGS ?= -q -p no:cacheprovider --capture=sys \
	--deselect tests/test_api.py::test_show_config_and_info_command \
	--deselect tests/test_api.py::test_default_threads_follow_openmp_environment

$(ASAN_STAMP):
	$(PYTHON) -m venv $(ASAN_VENV)
	$(ASAN_PY) -m pip install --quiet setuptools wheel 'Cython>=3.1' 'numpy>=2.0' \
		pytest hypothesis mpmath threadpoolctl
	@touch $@

sanitize: $(ASAN_STAMP)
	mkdir -p $(ASAN_TREE)
	tar -c --exclude='*.so' --exclude='*.c' --exclude=__pycache__ --exclude=_build_info.py \
		setup.py pyproject.toml README.md fastloss tests examples benchmarks | tar -x -C $(ASAN_TREE)
	cd $(ASAN_TREE) && FASTLOSS_SANITIZE=1 FASTLOSS_VARIANTS=baseline FASTLOSS_BUILD_JOBS=2 \
		$(ASAN_PY) setup.py --quiet build_ext --inplace -j 2
	cd $(ASAN_TREE) && \
		LD_PRELOAD="$$($${CC:-gcc} -print-file-name=libasan.so)" \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(ASAN_PY) -m pytest $(SANITIZE_ARGS) $(SANITIZE_TESTS)

clean:
	rm -rf build $(VENV) $(ASAN_VENV) fastloss/_kernels/*.c fastloss/_kernels/*.so fastloss/*.so fastloss/_build_info.py
	rm -f fastloss/_kernels/_regression.pyx fastloss/_kernels/_binary.pyx
