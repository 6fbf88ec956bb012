# Two entry points, as the README says: `make demo` and `make test`.
# Both set up everything they need on a fresh Debian machine with Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup native system-deps demo test lint bench clean catalogs

setup: $(VENV)/.installed native

# The package in editable mode; its compiled accelerators are built by `native` (setup.py),
# not here, so that they are compiled once and then only when a source changes.
$(VENV)/.installed: pyproject.toml setup.py
	bash scripts/bootstrap-python.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install -q --upgrade pip
	WPEC_BUILD_NATIVE=0 $(BIN)/pip install -q -e '.[test]'
	touch $@

# Compiled twins of the hot paths (C compiler needed; without one, plain Python, same results).
# Incremental: only what changed is recompiled. The compiler's chatter goes to build/native.log.
native: $(VENV)/.installed
	@mkdir -p build
	@$(BIN)/python setup.py build_ext --inplace > build/native.log 2>&1 \
	  || { tail -n 30 build/native.log; echo "building the accelerators failed (see build/native.log)"; }
	@$(BIN)/python -c "from wpec_invoicing.fatturapa import native; print('accelerators:', 'compiled' if native.NATIVE else 'NOT built: running as plain Python (see build/native.log)')"

# Real servers the tests talk to (Dovecot, PostgreSQL, OpenSSL): installed when missing.
system-deps:
	bash scripts/install-system-deps.sh

# The console's catalogs after a template or label change: new strings are added (empty) to
# both .po files, gone ones dropped; then translate them (tests/unit/console/test_catalogs.py
# fails while one is missing). Nothing to compile: the console reads the .po files at start.
catalogs: setup
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext -k ngettext:1,2 --no-location \
	  --no-wrap -o build/console-messages.pot .
	for lang in it en; do $(BIN)/pybabel update -i build/console-messages.pot \
	  -d wpec_invoicing/web/console/locales -l $$lang --no-fuzzy-matching --ignore-obsolete \
	  --no-wrap; done

demo: setup
	$(BIN)/wpec demo

lint: setup
	$(BIN)/ruff check .

test: system-deps setup
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: system-deps setup
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) wpec-data .pytest_cache .hypothesis build
	find wpec_invoicing -name '*.so' -delete
