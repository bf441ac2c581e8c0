VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

.PHONY: install test lint bench bench-clean gpu-check demo eval clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@

test: install lint
	TERM=unknown $(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/phiflash solve "3x^2+4x+5=1"

bench: install
	$(PIP) install -c constraints.txt -e '.[dev,bench]'
	$(PY) -m benchmarks

bench-clean:
	rm -rf .bench-cache

eval: install
	$(PY) -m benchmarks.math500 --show wrong,reference-wrong,other-verified

gpu-check: install
	$(PY) scripts/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache
