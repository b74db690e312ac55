# make demo: a light venv (OpenVINO for the CPU) and the example. make test: the whole toolset, lint and tests.
# make test PYTHON=python3.13 runs the same on another Python, in its own venv (.venv-python3.13).
SHELL := /bin/bash
# python3.12 on PATH, else the pyenv one, else 3.13 (this image keeps them there; the plain python3 is 3.11).
# A candidate must actually run: pyenv's shim answers `command -v python3.12` but may not work.
ifdef PYTHON
VENV ?= .venv-$(notdir $(PYTHON))
else
PYTHON := $(shell root=$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv); \
	for p in python3.12 $$(ls -d $$root/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n 1) \
	         python3.13 $$(ls -d $$root/versions/3.13.*/bin/python3.13 2>/dev/null | sort -V | tail -n 1); do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV ?= .venv
endif
VPY   := $(VENV)/bin/python
EXTRAS ?= cpu,ncnn,test

.PHONY: install demo test test-no-bf16 test-export lint docs clean

install: $(VENV)/.installed-$(EXTRAS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or 3.13 not found: put python3.12 on PATH or set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Only what the example needs (OpenVINO, which autoselect picks on a CPU, and Pillow for the comparison picture).
demo:
	$(MAKE) install EXTRAS=demo
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" vspipe -p examples/upscale.vpy --
	$(VPY) scripts/compare.py --out out/compare.png

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts tools examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VPY) -m pytest $(PYTEST_ARGS)

# The precision tests as on a CPU without bf16 or fp16 arithmetic (benchmarks/no_bf16 emulates one): expectations come
# from the precision report, so they must pass on every CPU kind.
PRECISION_TESTS := tests/backends/test_cpu_precision.py tests/fp16 tests/tune/test_hardening.py \
	tests/backends/test_get_args.py
test-no-bf16: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONPATH="$(CURDIR)/benchmarks/no_bf16" $(VPY) -m pytest $(PRECISION_TESTS) $(PYTEST_ARGS)

# vsinfer export and .pth / .safetensors paths need torch and spandrel (the export extra; torch's PyPI wheel brings
# CUDA, several GB): a venv of their own, .venv-export. VSINFER_REQUIRE=export turns a skip there into a failure.
test-export:
	$(MAKE) install VENV=.venv-export EXTRAS=export,ort
	.venv-export/bin/python -m pip install -q 'pytest>=8' 'pytest-timeout>=2.3'
	VSINFER_REQUIRE=export,ort PATH="$(CURDIR)/.venv-export/bin:$$PATH" .venv-export/bin/python -m pytest -rs $(PYTEST_ARGS) tests/test_export.py

# The docs site (mkdocs-material + mkdocstrings); --strict turns every warning into an error.
docs: install
	$(VPY) -m pip install -q -e '.[docs]'
	$(VENV)/bin/mkdocs build --strict --site-dir out/site
	$(VPY) scripts/check_site.py out/site

clean:
	rm -rf .venv .venv-* out build site src/*.egg-info
