PY     ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: $(VENV) test demo bench clean

$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

# TEST_WORKERS=2 runs two test processes (pytest-xdist), a file per process at a time: most tests
# wait on servers, workers and sandboxes, so two keep both cores busy (13–15 min instead of ~25).
# Not the default yet: two processes race for ephemeral ports (ServerThread picks one, then binds
# it) and a loaded machine shows event-loop stalls the benchmark test refuses.
# pytest exit code 5 means "no tests collected": not a failure
TEST_WORKERS ?= 0
test: $(STAMP)
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile || test $$? -eq 5

# A month of business first (once per database), then the API, worker, sandboxes and console with live sales.
# A lighter month than `juhe simulate`'s 670 sales a weekday, so that a first demo starts within minutes.
DEMO_PAYMENTS_PER_DAY ?= 150
demo: $(STAMP)
	$(VENV)/bin/juhe simulate --days 30 --once --payments-per-day $(DEMO_PAYMENTS_PER_DAY)
	$(VENV)/bin/juhe treasury scf demo
	$(VENV)/bin/juhe demo --stream

bench: $(STAMP)
	$(VENV)/bin/juhe bench ledger

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
