# Corral: `make run` builds and starts corrald; `make test` builds and runs every test.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STATE_DIR ?= $(if $(filter 0,$(shell id -u)),/var/lib/corral,$(HOME)/.local/share/corral)
RUN_ARGS ?=

.PHONY: all deps build build-release run test test-swift test-system bench venv clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build -c release

# Starts the daemon in the foreground with its embedded defaults (SQLite state,
# the process driver). In another terminal: .build/release/corral run -- /bin/echo hi
run: build-release
	@mkdir -p "$(STATE_DIR)"
	@echo "corrald: state in $(STATE_DIR); CLI: $(CURDIR)/.build/release/corral"
	exec .build/release/corrald --state-dir "$(STATE_DIR)" $(RUN_ARGS)

$(VENV_PY): tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q --upgrade pip
	$(VENV_PY) -m pip install -q -r tests/requirements.txt
	@touch $(VENV_PY)

venv: deps $(VENV_PY)

test: deps venv
	$(SWIFT) build --build-tests
	$(MAKE) --no-print-directory test-swift test-system

test-swift:
	$(SWIFT) test --skip-build

test-system:
	CORRAL_BIN_DIR=$(CURDIR)/.build/debug $(VENV_PY) -m pytest tests -q -ra

bench: build-release venv
	@scripts/install-deps.sh --bench
	CORRAL_BIN_DIR=$(CURDIR)/.build/release $(VENV_PY) bench/bench.py
	CORRAL_BIN_DIR=$(CURDIR)/.build/release $(VENV_PY) bench/bench_container.py
	CORRAL_BIN_DIR=$(CURDIR)/.build/release $(VENV_PY) bench/bench_vm.py

clean:
	rm -rf .build $(VENV)
