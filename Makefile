VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

# Both cores (pytest-xdist), and the 15 slowest tests named at the end so the next person sees where time goes.
# loadgroup: the tests of one xdist_group (the Ray cluster's) run in one worker, so they share one cluster.
PYTEST := TERM=unknown $(PY) -m pytest -n 2 --dist loadgroup --durations=15
# The kernel paths below this CPU's own that torch can be forced to (ATEN_CPU_CAPABILITY), asked of torch itself.
LOWER_CAPS := $(PY) -c 'import torch; print({"AVX512": "avx2 default", "AVX2": "default"}.get(torch.backends.cpu.get_cpu_capability(), ""))'

.PHONY: install test test-all lint bench bench-clean gpu-check demo eval clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@

# The fast tier: everything but the tests marked slow (real processes, whole-data sweeps, conversions).
test: install lint
	$(PYTEST) -m "not slow"

# Every tier, as CI runs it: the whole suite on this CPU's kernels, then the fast tier again on each lower kernel
# path (AVX-512 machines also run AVX2's and the portable one), so what passes here passes on the CPUs people own.
test-all: install lint
	$(PYTEST)
	@for cap in $$($(LOWER_CAPS)); do \
		echo "== the fast tier with ATEN_CPU_CAPABILITY=$$cap"; \
		ATEN_CPU_CAPABILITY=$$cap $(PYTEST) -m "not slow" || exit 1; \
	done

lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/phiflash solve "3x^2+4x+5=1"

bench: install
	$(PIP) install -c constraints.txt -e '.[dev,bench]'
	$(PY) -m benchmarks

bench-clean:
	rm -rf .bench-cache

TRAIN := ../shared/data/math-train/train.jsonl

# the symbolic engine on MATH-500 and on the 7,498 training problems (solve and the checker's verdicts on each
# reference), then the checker on generated student notations, then the two scores side by side: ~18 min on 2 cores
eval: install
	$(PY) -m benchmarks.math500 --show wrong,reference-wrong,other-verified
	$(PY) -m benchmarks.math500 $(TRAIN) --show wrong,reference-wrong,other-verified
	$(PY) -m benchmarks.notations
	$(PY) -m benchmarks.eval_summary

gpu-check: install
	$(PY) scripts/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache
