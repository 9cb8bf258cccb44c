# Two commands do everything on a fresh machine: `make plan` and `make test`.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: plan test bench render clean policy-venv upstream mermaid

# The virtualenv with what the program and meshplan need, brought up to date
# whenever requirements.txt or pyproject.toml changes: the pinned requirements, then
# this checkout in editable mode, which installs the `meshplan` command
# (venv/bin/meshplan) and nothing else.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The test tools on top of it, installed again whenever either file changes (a
# changed requirements.txt renews .installed, which is newer than this stamp then).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The policy pack runs in a virtualenv of its own (policy/PulumiPolicy.yaml), which
# `pulumi preview --policy-pack policy` expects to exist.
policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

## Create the policy pack's virtualenv.
policy-venv: policy/venv/.installed

## Render and summarize a stack offline (default: dev).
plan: $(VENV)/.installed
	$(VENV)/bin/meshplan render --stack $(STACK)

# mermaid's own parser (npm mermaid under Node with jsdom), which the tests run over
# every graph meshplan prints; exact versions from tools/mermaid/package-lock.json.
# Without npm the graph tests skip, saying so (they fail with
# BOOKINFO_MESH_REQUIRE_UPSTREAM=1): a machine without Node can still run make test.
tools/mermaid/node_modules/.installed: tools/mermaid/package.json tools/mermaid/package-lock.json
	@if command -v npm >/dev/null; then \
	  (cd tools/mermaid && npm ci --no-audit --no-fund --silent) && touch $@; \
	else echo "npm not found: the mermaid graph tests will skip (install Node and npm, then make mermaid)"; fi

## Install mermaid's parser for the graph tests (needs Node and npm).
mermaid: tools/mermaid/node_modules/.installed

## Run the whole test suite; the summary lists every skipped test with its reason.
test: $(VENV)/.installed-dev policy/venv/.installed tools/mermaid/node_modules/.installed
	$(PY) -m pytest -q -rs

## Download the pinned upstream artifacts the tests compare against into
## upstream/artifacts/ (git-ignored), check their sha256, build the derived ones.
## Standard library only, so it needs no virtualenv.
upstream:
	$(PYTHON) upstream/fetch.py

## Measure render and diff speed against the import floor of the SDK modules used.
bench: $(VENV)/.installed
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) policy/venv upstream/artifacts tools/mermaid/node_modules .pytest_cache .hypothesis *.egg-info
