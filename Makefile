# The two commands of the README:  `make run`  and  `make test`.
# Each creates or refreshes .venv from requirements.lock, installs fossilct, then does its job.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed
PROFILE ?= quick
ARGS   ?=

.PHONY: run test smoke bench lock hooks clean-venv browser

$(READY): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	@touch $(READY)

run: $(READY)  ## generate the synthetic dataset and run every notebook (profile: quick)
	$(BIN)/python run_all.py --profile $(PROFILE) $(ARGS)

test: $(READY) browser  ## the whole test suite, notebook smoke runs included
	$(BIN)/python -m pytest $(ARGS)

browser:  ## Debian's Chromium for the dashboard's browser test (never a downloaded browser)
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x /usr/bin/chromium || echo "no /usr/bin/chromium and no apt-get: the browser test is skipped"

smoke: $(READY)  ## only the notebook smoke runs
	$(BIN)/python -m pytest -m smoke $(ARGS)

bench: $(READY)  ## every benchmark script (prints ratios)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lock: $(READY)  ## rewrite requirements.lock from the current .venv
	{ head -n 2 requirements.lock; $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

hooks:  ## strip notebook outputs on every commit
	git config core.hooksPath .githooks

clean-venv:
	rm -rf $(VENV)
