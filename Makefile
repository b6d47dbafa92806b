# Every target goes through uv; uv is installed into .tools/ when it is not on PATH.
SHELL := /bin/bash
DRY_RUN ?= 0
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_LINK_MODE ?= copy

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint format demo down clean bench airflow up gitops-push test-k8s images base-image test-containers

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	@echo "uv not found: installing it into .tools/"
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.installed: $(UV) uv.lock pyproject.toml */pyproject.toml
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed ## Install the workspace (all stages, dev tools) into .venv

test: install ## Run the whole test suite
	$(UV) run --frozen pytest

test-fast: install ## Run the tests not marked slow
	$(UV) run --frozen pytest -m "not slow"

lint: install ## ruff check and format check
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

# The models `make demo` runs side by side (model folders under models/): a regression and a
# classifier. DEMO_MODELS="house-price" runs one.
DEMO_MODELS ?= house-price churn

demo: install ## Run the whole loop for house-price and churn side by side on the embedded runtime (no Docker, no cluster)
	$(UV) run --frozen mlops pipeline run $(foreach m,$(DEMO_MODELS),--model $(m))

airflow: install ## Airflow standalone with dags/ on the embedded runtime (prints the UI URL and admin password)
	$(UV) run --frozen mlops up --airflow

down: ## Stop what `make demo` and `make up` started: embedded services, then the kind cluster
	@if [ "$(DRY_RUN)" = "1" ]; then echo "+ .venv/bin/mlops down"; \
	elif [ -x .venv/bin/mlops ]; then .venv/bin/mlops down || true; fi
	DRY_RUN=$(DRY_RUN) bash scripts/platform.sh down

images: ## Build the five stage images as `make up` does (PYTHON_IMAGE=<base>, EXTRA_CA_FILE=<pem>, IMAGE_TAG=<tag>)
	DRY_RUN=$(DRY_RUN) bash scripts/build-images.sh

base-image: ## Build a Python base image from a Debian mirror (no registry needed; root, debootstrap)
	bash scripts/build-base-image.sh

test-containers: install ## Build the images and run each as its chart runs it (needs a docker engine)
	$(UV) run --frozen pytest -m containers tests/containers

up: ## The whole platform on a local kind cluster, reconciled by Argo CD (DRY_RUN=1: print the plan)
	DRY_RUN=$(DRY_RUN) bash scripts/platform.sh up

gitops-push: ## Serve the current commit to the kind cluster (Argo CD and Airflow git-sync pick it up)
	DRY_RUN=$(DRY_RUN) bash scripts/platform.sh push

test-k8s: install ## Kubernetes checks only: charts, manifests, policies, the Dockerfile, workflows
	$(UV) run --frozen pytest tests/k8s

bench: install ## Run the benchmarks in bench/
	for b in bench/*.py; do $(UV) run --frozen python $$b || exit 1; done

clean: ## Stop services and delete the state folder, caches and the venv
	-[ -x .venv/bin/mlops ] && .venv/bin/mlops down
	rm -rf .mlops .venv .pytest_cache .ruff_cache bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
