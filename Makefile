# The two commands of the README: `make run` and `make test`. Each installs what is missing first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run demo lint test test-unit bench schemas terraform-check clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)                    ## the whole platform locally, a scripted demo, then serve until Ctrl-C
	$(PY) -m infra.stack

demo: $(STAMP)                   ## the same, but exit after the demo
	$(PY) -m infra.stack --demo-only

# The code that lint and the type checker hold to pyproject.toml's rules.
LINT_PATHS := functions shared infra emulators

lint: $(STAMP)                   ## ruff's lint and format checks, then mypy (settings in pyproject.toml)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

test: $(STAMP) lint              ## lint and types, unit, integration (real emulators) and e2e tests, then the Terraform checks
	$(PY) -m pytest
	$(MAKE) terraform-check

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

bench: $(STAMP)                  ## throughput and latency figures, printed
	$(PY) -m infra.bench

schemas: $(STAMP)                ## JSON Schema of every event, for the carrier's integrators
	$(PY) -m infra.schemas schemas/

# checkov lives in its own virtualenv: its pins clash with the runtime's.
$(VENV)-checkov/.installed:
	$(PYTHON) -m venv $(VENV)-checkov
	$(VENV)-checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

terraform-check: $(VENV)-checkov/.installed
	$(VENV)-checkov/bin/checkov --quiet --compact --skip-download --directory terraform --framework terraform

clean:
	rm -rf $(VENV) $(VENV)-checkov .run
