# The two commands of the README's quick start:
#   make demo   installs everything into .venv, then runs the main job on the bundled examples
#   make test   installs everything into .venv, then runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench eval lint

# torch is pinned to the CPU build that pip finds locally (the bundled MiniLM model's
# sentence-transformers dependency needs *a* torch; VMB's default path never imports it).
# tinysoundfont goes in with --no-deps: its wheel declares pyaudio (live playback only),
# which does not build without PortAudio headers.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps tinysoundfont==0.3.7
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: describe an image and a video (text bridge), build the reference library on
# first run (music bridge; ~2 min, later runs skip it), retrieve, generate a WAV, score the video.
demo: $(STAMP)
	@mkdir -p out
	$(BIN)/vmb describe vmb_agent/examples/harbour.jpg
	$(BIN)/vmb describe vmb_agent/examples/harbour.jpg --json > out/harbour.json
	$(BIN)/vmb describe vmb_agent/examples/city.mp4
	$(BIN)/vmb library build
	$(BIN)/vmb search --description out/harbour.json -k 5
	$(BIN)/vmb generate --description out/harbour.json --auto-references 2 --duration 30 --out out
	$(BIN)/vmb score vmb_agent/examples/city.mp4 --out out/city-scored.mp4 --force

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

eval: $(STAMP)
	$(BIN)/vmb eval all --out docs/eval-report

lint: $(STAMP)
	$(BIN)/ruff check .
