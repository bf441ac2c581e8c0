VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

.PHONY: install test test-all bench bench-clean gpu-check demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@

test: install
	TERM=unknown $(PY) -m pytest -q

test-all: install
	TERM=unknown $(PY) -m pytest -q -m ''

demo: install
	$(VENV)/bin/phiflash solve "3x^2+4x+5=1"

bench: install
	$(PY) -m benchmarks

bench-clean:
	rm -rf .bench-cache

gpu-check: install
	$(PY) scripts/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache
