# The two commands of the README:  `make run`  and  `make test`.
# Each creates or refreshes .venv from requirements.lock, installs fossilct, then does its job.
#
# Python: the first of python3.11, python3.12, python3.13 that runs (TensorFlow 2.21 has wheels
# for these three, and the lock installs on each); or PYTHON=/path/to/python3.X.
# TensorFlow: TF=cpu (default) installs the lock's tensorflow-cpu; TF=gpu installs
# tensorflow[and-cuda] of the same version instead (a Linux host with an NVIDIA driver).
SHELL     := /bin/bash
SUPPORTED := 3.11 3.12 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON    := $(firstword $(foreach v,$(SUPPORTED),$(shell command -v python$(v) >/dev/null 2>&1 \
                 && python$(v) -c 'import sys' >/dev/null 2>&1 && echo python$(v))))
endif
TF        ?= cpu
VENV      ?= .venv
BIN       := $(VENV)/bin
READY     := $(VENV)/.installed-$(TF)
TF_VERSION := $(shell sed -nE 's/^tensorflow[-_]cpu==//p' requirements.lock)
PIP       := $(BIN)/python -m pip --disable-pip-version-check
PROFILE   ?= quick
ARGS      ?=

.PHONY: run test smoke bench lock hooks clean-venv check-python browser

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "make: no supported Python found. Install one of Python $(SUPPORTED) (TensorFlow $(TF_VERSION) has wheels for these), or pass PYTHON=/path/to/python3.X." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v in "$(SUPPORTED)".split() else "make: $(PYTHON) is Python " + v + "; fossilct supports Python $(SUPPORTED) (TensorFlow $(TF_VERSION) wheels). Pass PYTHON=/path/to/python3.X.")'
	@case "$(TF)" in cpu|gpu) ;; *) echo "make: TF=$(TF): use TF=cpu or TF=gpu." >&2; exit 1;; esac

$(READY): requirements.lock pyproject.toml | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(TF),gpu)
	grep -vE '^tensorflow[-_]cpu==' requirements.lock > $(VENV)/requirements.gpu.lock
	! $(PIP) show --quiet tensorflow-cpu 2>/dev/null || $(PIP) uninstall --quiet --yes tensorflow-cpu
	$(PIP) install --quiet -r $(VENV)/requirements.gpu.lock "tensorflow[and-cuda]==$(TF_VERSION)"
else
	! $(PIP) show --quiet tensorflow 2>/dev/null || $(PIP) uninstall --quiet --yes tensorflow
	$(PIP) install --quiet -r requirements.lock
endif
	$(PIP) install --quiet --no-build-isolation --no-deps -e .
	@rm -f $(VENV)/.installed-*
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

# The lock is pip freeze of the CPU .venv (make it with Python 3.11, whose pip writes the names
# as the lock has them), sorted by lower-case name; lines with an environment marker (packages
# only one Python version needs) are kept from the current lock: one interpreter cannot see them.
lock: $(READY)  ## rewrite requirements.lock from the current .venv
	@test "$(TF)" = cpu || { echo "make lock: run it with TF=cpu (the lock holds tensorflow-cpu)." >&2; exit 1; }
	grep '^#' requirements.lock > requirements.lock.new
	{ grep -v '^#' requirements.lock | grep ';' || true; \
	  $(PIP) freeze --all --exclude-editable | grep -v '^pip==' \
	    | grep -viE "^($$(grep -v '^#' requirements.lock | grep ';' | sed 's/==.*//' | paste -sd'|' -))==" ; \
	} | awk -F'==' '{ print tolower($$1) "\t" $$0 }' | LC_ALL=C sort -t'	' -k1,1 | cut -f2- \
	  >> requirements.lock.new
	mv requirements.lock.new requirements.lock

hooks:  ## strip notebook outputs on every commit
	git config core.hooksPath .githooks

clean-venv:
	rm -rf $(VENV)
