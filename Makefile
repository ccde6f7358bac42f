# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Numba's on-disk cache of the kernels, compiled once here rather than at the first
# service start or test (a cold compile takes about a minute).
WARM   := $(VENV)/.kernels-compiled

.PHONY: demo test fuzz check setup mosquitto clean

setup: $(STAMP) $(WARM) mosquitto

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev,bench]'
	@touch $(STAMP)

$(WARM): $(STAMP) $(wildcard kernels/*.py)
	@echo "compiling the Numba kernels (once; a minute or two on a cold cache)"
	$(PY) -c "from fusion.warmup import warm_up; warm_up()"
	@touch $(WARM)

# Debian's mosquitto, installed where it is missing (these machines run as root).
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's mosquitto"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; \
	else \
		echo "mosquitto is missing: install it (Debian/Ubuntu: sudo apt-get install mosquitto), then run make again" >&2; exit 1; \
	fi

demo: setup
	$(VENV)/bin/fusion demo

test: setup
	$(PY) -m pytest -q

# Property tests with fresh random cases, FUZZ_RUNS times (make test draws fixed ones), and
# the report decoder fed FUZZ_PAYLOADS random and mutated payloads per pass from a fresh
# seed (make test feeds it 20,000 from a fixed one). A failure prints its FUZZ_SEED.
FUZZ_RUNS ?= 20
FUZZ_PAYLOADS ?= 100000
fuzz: setup
	@for i in $$(seq $(FUZZ_RUNS)); do \
		seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); \
		echo "fuzz pass $$i: FUZZ_SEED=$$seed FUZZ_PAYLOADS=$(FUZZ_PAYLOADS)"; \
		HYPOTHESIS_PROFILE=fuzz FUZZ_SEED=$$seed FUZZ_PAYLOADS=$(FUZZ_PAYLOADS) $(PY) -m pytest -q \
			tests/test_cpa.py tests/test_geo.py tests/test_schema.py tests/test_kalman.py \
			tests/test_fuse.py tests/test_screen.py tests/test_broadphase.py \
			tests/test_fuzz_schema.py || exit 1; \
	done

check: setup
	$(VENV)/bin/ruff check fusion kernels bench tests
	$(VENV)/bin/ruff format --check fusion kernels bench tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
