# The two front-door commands: `make run` and `make test`. Everything else supports them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export VIDEO_DATA_DIR ?= $(CURDIR)/.data

.PHONY: run test install install-dev lint typecheck pytest bench-api bench-media bench-workflow synth definition clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade 'pip<26.3'

# placeholder: filled in as the work lands
