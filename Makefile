# The two commands a newcomer types (see README.md). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The report's screenshot test runs where Debian's Chromium is installed (skipped elsewhere).
CHROMIUM := /usr/bin/chromium

.PHONY: train test lint install chromium

# dev: the test tools; ray: `hrrl ablate --ray` (its test runs a real local Ray); box2d and
# minatar: the LunarLander-v3 and MinAtar tasks.
$(BIN)/hrrl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ray,box2d,minatar]'
	touch $(BIN)/hrrl

install: $(BIN)/hrrl

# As root with apt (CI), install Chromium for the screenshot test; otherwise say it is skipped.
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "note: no $(CHROMIUM) (and not root): the report screenshot test is skipped"; \
	fi

train: install
	$(BIN)/hrrl train --preset default

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2
