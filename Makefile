PY     ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: $(VENV) test demo bench clean

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

# pytest exit code 5 means "no tests collected": not a failure
test: $(STAMP)
	$(VENV)/bin/pytest || test $$? -eq 5

# A month of business first (once per database), then the API, worker, sandboxes and console with live sales
demo: $(STAMP)
	$(VENV)/bin/juhe simulate --days 30 --once
	$(VENV)/bin/juhe treasury scf demo
	$(VENV)/bin/juhe demo --stream

bench: $(STAMP)
	$(VENV)/bin/juhe bench ledger

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
