# Two entry points, as the README says: `make demo` and `make test`.
# Both set up everything they need on a fresh Debian machine with Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup system-deps demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/bootstrap-python.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Real servers the tests talk to (Dovecot, PostgreSQL, OpenSSL): installed when missing.
system-deps:
	bash scripts/install-system-deps.sh

demo: setup
	$(BIN)/wpec demo

lint: setup
	$(BIN)/ruff check .

test: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: setup system-deps
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) wpec-data .pytest_cache .hypothesis
