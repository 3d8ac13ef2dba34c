# The two commands of the README's quick start:
#   make demo   installs everything into .venv, then runs the main job on the bundled examples
#   make test   installs everything into .venv (with the [neural] extra: torch, transformers,
#               diffusers), then runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NEURAL := $(VENV)/.installed-neural
# The tests also run the neural backends (vmb_agent/neural) on tiny random models, so `make test`
# adds the [neural] extra. torch is named first so pip takes this release (on this project's
# machines a CPU build lies on disk; elsewhere PyPI's build of it) instead of the newest.
TORCH  ?= torch==2.13.0

.PHONY: install demo test bench eval lint

# A plain editable install: it compiles the vendored SoundFont renderer (needs a C++ compiler;
# redone when its source changes) and pulls no torch (the MiniLM weights ship in the package).
# PYTHONWARNINGS: setuptools prints an informational note ("Editable installation... be careful
# with folders named like your package") for every editable install of a package with mapped
# folders (tools/, prompts/); it is not a problem with this package, so it is kept out of the log.
$(STAMP): pyproject.toml setup.py Makefile $(shell find vmb_agent/rendering/_tinysoundfont-src -type f)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The same install plus the [neural] extra, in one pip run (the renderer is compiled once).
$(NEURAL): pyproject.toml setup.py Makefile $(shell find vmb_agent/rendering/_tinysoundfont-src -type f)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q '$(TORCH)' -e '.[dev,neural]'
	touch $(STAMP) $(NEURAL)

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

test: $(NEURAL)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

eval: $(STAMP)
	$(BIN)/vmb eval all --out docs/eval-report

lint: $(STAMP)
	$(BIN)/ruff check .
