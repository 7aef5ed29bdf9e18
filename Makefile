# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv itself.
VENV        ?= .venv
PYTHON3     ?= python3
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
# Use your own unix-port build with `make test MICROPYTHON=/path/to/micropython`.
MICROPYTHON ?= $(VENV)/bin/micropython
export MICROPYTHON

.PHONY: all setup test test-cpython test-micropython budget bench demo clean run memreport paper

all: test

setup: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

test: test-cpython test-micropython budget

test-cpython: $(STAMP)
	$(PY) -m pytest -q host_tests

test-micropython: $(STAMP)
	$(MICROPYTHON) -X heapsize=8M host_tests/mprun.py

# The node's heap on the unix port and every board's .mpy bytes against
# boards/<name>/budget.json (tools/budget.py); fails when one is over.
budget: $(STAMP)
	$(PY) tools/budget.py --json build/budget.json

bench: $(STAMP)
	$(PY) tools/bench.py

demo: $(STAMP)
	$(PY) tools/demo.py

# A node on the unix port: make run ARGS="--endpoint n1 --server coap://127.0.0.1:5683"
# (flags: firmware/config.py; Ctrl-C de-registers). umask 077: the state directory
# holds key material and the unix port cannot chmod (lib/lwm2m/store.py).
run: $(STAMP)
	umask 077 && $(PY) tools/run_node.py $(ARGS)

# Unix-port heap of a registered node over 10 virtual minutes, .mpy bytes by layer;
# then what the C2C extension adds (heap with/without a peer, .mpy bytes).
memreport: $(STAMP)
	$(PY) tools/memreport.py $(MEMREPORT_ARGS)
	$(PY) tools/memreport_c2c.py

# The paper's evaluation in the simulator (issue 7): build/paper/ (CSV, PNG, report.md),
# report and plots copied to docs/paper/. Two worker processes.
paper: $(STAMP)
	$(PY) tools/sim/paper.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Boards (boards/README.md). SERIAL is the board's serial port.
#   make flash  SERIAL=/dev/ttyUSB0 CHIP=esp32 IMAGE=ESP32_GENERIC-v1.24.1.bin [FLASH_ARGS=--dry-run]
#   make deploy SERIAL=/dev/ttyUSB0 BOARD=esp32 [DEPLOY_ARGS="--dry-run --config node.json"]
SERIAL ?= /dev/ttyUSB0
BOARD  ?= esp32
CHIP   ?= esp32
.PHONY: deploy flash

deploy: $(STAMP)
	$(PY) tools/deploy.py --port $(SERIAL) --board $(BOARD) $(DEPLOY_ARGS)

flash: $(STAMP)
	@test -n "$(IMAGE)" || { echo "make flash needs IMAGE=path/to/micropython.bin"; exit 2; }
	$(PY) tools/flash.py --port $(SERIAL) --chip $(CHIP) $(IMAGE) $(FLASH_ARGS)
