# mlops-course: `make help` lists the targets. Two commands do everything:
#   make lessons   set up, fetch the data, run every lesson (FAST=1 for fast mode)
#   make test      set up, fetch the data, run the whole test suite
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
COURSE := $(BIN)/mlops-course
PYTEST_ARGS ?=

export PYDEVD_DISABLE_FILE_VALIDATION := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: help setup data lessons bench serve bench-serving test lab outputs repro sync lint clean lock

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else \
		f"Python >= 3.11 is needed, {sys.executable} is {v.major}.{v.minor}. Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned stack into $(VENV) (first time: a few minutes)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name mlops-course \
		--display-name "Python (mlops-course)" > /dev/null
	@# JupyterLab: .py lessons open as notebooks, IPC kernels, idle kernels shut down, no news
	@$(COURSE) lab --setup-only
	@touch $@
	@echo "Environment ready: $(VENV)"

setup: $(STAMP) ## create .venv with the pinned stack (idempotent, quick when done)

data: setup ## fetch and verify the housing data (MLOPS_COURSE_DATA_MIRROR=DIR to copy it offline)
	@$(COURSE) data fetch
	@# lesson 3's downloads happen here, at setup, so lessons and tests run offline after it:
	@# the base image (once per machine, when an engine, root and debootstrap are there)
	@$(COURSE) image base --if-possible

lessons: data ## run every lesson end to end -> build/lessons/ (FAST=1: fast mode)
	@$(COURSE) lessons run $(LESSONS) $(if $(filter 1 true yes,$(FAST)),--fast,)

serve: data ## the prediction service (lesson 8) on 127.0.0.1 (PORT=8000, MODEL=path or models:/NAME@ALIAS)
	@$(COURSE) serve --port $(or $(PORT),8000) $(if $(MODEL),--model $(MODEL),)

bench-serving: data ## lesson 8's service vs mlflow models serve and Flask: req/s, latency, memory
	@$(BIN)/python -m mlops_course.service.benchmark

bench: data ## lessons 6 and 7 in one run: the MLP eager, compiled, ONNX, fp16/bf16/int8 (FULL=1: all data)
	@$(COURSE) bench $(if $(filter 1 true yes,$(FULL)),--full,)

test: data ## run the whole test suite (every lesson in fast and full mode, in parallel)
	@before="$$(git status --porcelain 2>/dev/null || true)"; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); \
	after="$$(git status --porcelain 2>/dev/null || true)"; \
	if [ "$$before" != "$$after" ]; then \
		echo "The tests changed the checkout (git status differs):"; \
		diff <(echo "$$before") <(echo "$$after") || true; exit 1; fi

lab: data ## open JupyterLab on the course (the .py lessons open as notebooks)
	@$(COURSE) lab $(LAB_ARGS)

outputs: data ## run lessons in full mode, store their outputs in notebooks/*.ipynb (LESSONS=01)
	@$(COURSE) lessons outputs $(LESSONS)

.PHONY: book
book: data ## the course book -> build/book/index.html (runs `make lessons` first if never run)
	@test -f build/lessons/summary.json || $(MAKE) --no-print-directory lessons
	@$(COURSE) book

.PHONY: starter
starter: setup ## an assignment's starter repository: make starter NAME=assignment-1 OUT=dir
	@$(COURSE) assignment starter $(or $(NAME),assignment-1) $(or $(OUT),build/starter-$(or $(NAME),assignment-1))

# >>> instructor edition only
.PHONY: exercises grade release
exercises: setup ## generate the student notebooks in exercises/ from solutions/ (keeps answers)
	@$(COURSE) exercises generate

grade: data ## grade a folder of submissions: make grade EXERCISE=01 SUBMISSIONS=dir OUT=dir
	@$(COURSE) grade $(EXERCISE) $(SUBMISSIONS) --out $(OUT) $(if $(JOBS),--jobs $(JOBS),) \
		$(if $(TIMEOUT),--timeout $(TIMEOUT),) $(if $(MEMORY_MB),--memory-mb $(MEMORY_MB),) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER),)

release: setup ## write the student edition, without solutions: make release OUT=dir
	@$(COURSE) release $(or $(OUT),build/student-edition)

.PHONY: check-projects
check-projects: setup ## check a folder of assignment repos: make check-projects NAME=major REPOS=dir OUT=dir
	@$(COURSE) check-project $(or $(NAME),assignment-1) $(REPOS) --batch --out $(or $(OUT),build/checks)
# <<< instructor edition only

repro: data ## reproduce the project's DVC pipeline (prepare -> train -> evaluate)
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

.PHONY: image
image: data ## the service's container image (lesson 3): base image once per machine, then the build (Podman or Docker)
	@$(COURSE) image base
	@$(COURSE) image build

.PHONY: mlflow-ui
mlflow-ui: setup ## the MLflow UI on the course's store, build/mlflow (http://127.0.0.1:5000; PORT=)
	@mkdir -p build/mlflow/artifacts
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --host 127.0.0.1 \
		--port $(or $(PORT),5000) --workers 1 \
		--backend-store-uri sqlite:///$(CURDIR)/build/mlflow/mlflow.db \
		--default-artifact-root $(CURDIR)/build/mlflow/artifacts \
		--artifacts-destination $(CURDIR)/build/mlflow/artifacts

sync: setup ## sync each notebooks/*.py with its paired .ipynb (the newer wins; keeps outputs)
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py

lint: setup ## ruff on the package, tests, notebooks and solutions
	$(BIN)/ruff check $(wildcard src tests notebooks solutions)

clean: ## remove build outputs (keeps .venv and the data cache)
	rm -rf build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

lock: ## re-resolve the stack from pyproject.toml and rewrite constraints.txt
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# Pinned versions that setup installs (make lock rewrites this file)."; \
	  build/lock-venv/bin/python -m pip freeze --exclude-editable \
	    | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt
	rm -rf build/lock-venv
