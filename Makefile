# Targets run in the active Python environment (see README: a virtual environment).
PYTHON ?= python3

.PHONY: install dev run test lint bench energies

install:  ## the tool (editable: Numba's kernel cache stays in the clone)
	$(PYTHON) -m pip install -e .

dev:  ## the tool, editable, with test and lint tools and the pycachesim peer
	$(PYTHON) -m pip install -e ".[dev]"

run:  ## the main job on the default config
	simcache run configs/mobile_soc.yaml --layer depthwise

test:  ## compile every kernel family once (all cores), then the tests (as .ci/run)
	simcache compile --all && $(PYTHON) -m pytest

lint:
	ruff check simcache tests benchmarks

bench:  ## speed and memory; paste the output into BENCHMARKS.md
	$(PYTHON) benchmarks/bench.py

energies:  ## the chip configs' per-access energies from CACTI 7 (CACTI=path/to/cacti), checked against configs/
	$(PYTHON) benchmarks/cacti_energies.py --check
