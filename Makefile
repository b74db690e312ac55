# make install: the .venv only. make demo: install + run the example. make test: install + lint + tests.
SHELL := /bin/bash
VENV  := .venv
VPY   := $(VENV)/bin/python
# python3.12 on PATH, else the pyenv one (this image keeps 3.12 there; the plain python3 is 3.11).
# A candidate must actually run: pyenv's shim answers `command -v python3.12` but may not work.
ifndef PYTHON
PYTHON := $(shell for p in python3.12 $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n 1); do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
endif
EXTRAS ?= cpu,ncnn,test

.PHONY: install demo test lint docs clean

install: $(VENV)/.installed-$(EXTRAS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: put python3.12 on PATH or set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" vspipe -p examples/upscale.vpy --
	$(VPY) scripts/compare.py --out out/compare.png

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts tools examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VPY) -m pytest $(PYTEST_ARGS)

# The docs site (mkdocs-material + mkdocstrings); --strict turns every warning into an error.
docs: install
	$(VPY) -m pip install -q -e '.[docs]'
	$(VENV)/bin/mkdocs build --strict --site-dir out/site

clean:
	rm -rf $(VENV) out build site src/*.egg-info
