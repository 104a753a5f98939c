VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt typecheck bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py

test: $(STAMP)
	scripts/install-redis.sh
	scripts/install-postgres.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) -m pytest

fmt: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: $(STAMP)
	$(PY) -m mypy .

bench: $(STAMP)
	$(PY) -m bench.relay
	$(PY) -m bench.flush
	$(PY) -m bench.auth
	$(PY) -m bench.gateway
	$(PY) -m bench.websocket
	$(PY) -m bench.search

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
