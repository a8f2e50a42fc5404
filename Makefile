# The set-up commands: `make demo`, `make test` and `make docs`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Re-install only when the project metadata changes (editable install tracks the sources).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

# The test extra includes the docs extra (tests/test_docs.py builds the site), so it serves
# `make docs` too.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-docs

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[docs]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/emkit demo --out emkit-demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 tests

# The site, with the gallery executed and warnings as errors, into docs/_build/html (git-ignored).
# The API pages are regenerated each time, so a name removed from the package leaves no stale page.
docs: $(VENV)/.installed-docs
	rm -rf docs/api/generated
	$(BIN)/sphinx-build -b html -W --keep-going docs docs/_build/html

clean:
	rm -rf $(VENV) emkit-demo docs/_build docs/api/generated docs/auto_examples
