# make demo: a virtual environment, a small synthetic data set, training, running, scoring (minutes on 2 CPU cores).
# make test: ruff, the import layers (lint-imports, contracts in pyproject.toml) and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and pinned so that the rest of requirements.txt finds it satisfied.
# On Linux, PyPI's build of this version is GPU-capable (CUDA); set TORCH=torch to take the latest instead, and
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for PyTorch's CPU-only build (no CUDA libraries).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
DEMO ?= demo

# make builtin-model: the model shipped in the package (ecgnet/builtin_model), from every shared labelled record:
# the small recipe's ensemble, distilled into one network, exported to ONNX (some 45 min on 2 CPU cores).
BUILTIN_DATA ?= ../shared/data
BUILTIN_WORK ?= build-builtin

.PHONY: install test lint demo clean builtin-model

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

demo: install
	rm -rf $(DEMO)
	$(BIN)/python -m ecgnet synthetic $(DEMO)/train --records 400 --seed 1 --jobs 2
	$(BIN)/python -m ecgnet synthetic $(DEMO)/test --records 100 --seed 2 --jobs 2
	$(BIN)/python train_model.py $(DEMO)/train $(DEMO)/model --config demo --cache-dir $(DEMO)/cache
	$(BIN)/python run_model.py $(DEMO)/model $(DEMO)/test $(DEMO)/outputs
	$(BIN)/python evaluate_model.py $(DEMO)/test $(DEMO)/outputs --report $(DEMO)/report --model $(DEMO)/model

builtin-model: install
	$(BIN)/python train_model.py $(BUILTIN_DATA) $(BUILTIN_WORK)/teacher --config small --seed 0 --resume --quiet
	$(BIN)/python -m ecgnet distill $(BUILTIN_WORK)/teacher $(BUILTIN_WORK)/student --data $(BUILTIN_DATA) \
		--student demo --epochs 24 --quiet
	$(BIN)/python -m ecgnet export $(BUILTIN_WORK)/student
	$(BIN)/python -c "from ecgnet.builtin import ship; ship('$(BUILTIN_WORK)/student')"

clean:
	rm -rf $(DEMO) $(BUILTIN_WORK) .pytest_cache .ruff_cache
