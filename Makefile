# The two commands of the README:
#   make book   — set up .venv if missing, execute every notebook (papermill), build _build/html
#   make test   — set up .venv if missing, unit tests + nbval over every notebook + book build check
# Options: PROFILE=reference|smoke|cpu|paper (make book; reference, the default, reads the
#   committed records in results/ and trains nothing), PYTHON=python3.11, COVIDNB_DATA=/your/data/roots

PYTHON ?= python3
VENV ?= .venv
PROFILE ?= reference
BIN := $(VENV)/bin
STAMP := $(VENV)/.covidnb-installed

# The staged real data beside the checkout is the default data root.
ifeq ($(origin COVIDNB_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    export COVIDNB_DATA := $(abspath ../shared/data)
  endif
endif
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test unit notebooks book-check setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,book,batch]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (covidnb)" >/dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/covidnb book --profile $(PROFILE)

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

notebooks: $(STAMP)
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider nbs

book-check: $(STAMP)
	$(BIN)/covidnb book --no-execute

test: unit notebooks book-check

clean:
	rm -rf _build
