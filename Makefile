# The two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PY := .venv/bin/python

.PHONY: setup demo test test-e2e test-unit bench lint check-fresh clean help
help:
	@echo "make demo   install what is missing, run the whole pipeline on the local stack (operator too), reconcile, write a report"
	@echo "make test   install what is missing, lint (make lint), run every test tier this machine can run, the fast ones first"
	@echo "make test-e2e  install what is missing, run only the kind tier's end-to-end tests (pipeline, skaffold)"
	@echo "make bench  install what is missing, run the benchmarks in bench/ and print a table"
	@echo "make setup  only install (cached; SMARTWATCH_CACHE overrides the cache folder)"
	@echo "make check-fresh  set-up and the fastest test of each tier in a clone with empty caches, as on a new machine"

setup:
	@build/setup.sh

# Options of smartwatch demo (smartwatch demo --help), e.g. DEMO_ARGS="--users 5 --keep-running".
DEMO_ARGS ?=
demo: setup
	@.venv/bin/smartwatch demo $(DEMO_ARGS)

LEFTOVERS = @.venv/bin/smartwatch stack leftovers --state-dir .stack/test >/dev/null \
	  || { echo "a test stack or cluster left these behind:"; .venv/bin/smartwatch stack leftovers --state-dir .stack/test; exit 1; }

# The fast tiers first (Python only, a local Spark session, helm renders), stopping at their
# first failure; then the tiers that start servers and clusters (tests/conftest.py), listing
# the 20 slowest tests.
FAST_TIERS = unit or spark or helm
test: setup lint
	$(PY) -m pytest tests -m "$(FAST_TIERS)" -x
	$(PY) -m pytest tests -m "not ($(FAST_TIERS))" --durations=20
	$(LEFTOVERS)

# Only the kind tier's end-to-end tests (marker e2e: the pipeline through spark-operator,
# skaffold), which make test runs too.
test-e2e: setup
	$(PY) -m pytest tests -m e2e
	$(LEFTOVERS)

test-unit: setup
	$(PY) -m pytest tests -m unit

bench: setup
	$(PY) bench/run.py

# ruff over every Python folder, mypy over every package (pyproject.toml), shellcheck over
# every shell script git tracks (*.sh, or a sh, bash or dash #! line); part of make test.
lint: setup
	.venv/bin/ruff check services jobs operator tests bench
	.venv/bin/mypy
	scripts=$$(git ls-files | while read -r f; do case "$$f" in \
	  *.sh) echo "$$f" ;; \
	  *) { [ -f "$$f" ] && head -n 1 "$$f" | grep -Eq '^#!.*[/ ](ba|da)?sh( |$$)' && echo "$$f"; } || true ;; \
	  esac; done); \
	  echo "shellcheck: $$(wc -w <<<"$$scripts") scripts"; .venv/bin/shellcheck -x $$scripts

# Set-up and the tests as a new machine runs them: a clone of this checkout (with its
# uncommitted changes) and empty caches; see build/check-fresh.sh. CHECK_FRESH_TARGETS="demo test"
# runs those targets instead of the fastest test of each tier.
check-fresh:
	@build/check-fresh.sh

clean:
	-.venv/bin/smartwatch stack down
	-for d in .stack/*/; do .venv/bin/smartwatch cluster down --state-dir "$$d"; done
	rm -rf .stack
