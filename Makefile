# The two commands a newcomer types (see README.md). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The report's screenshot test runs where Debian's Chromium is installed (skipped elsewhere).
CHROMIUM := /usr/bin/chromium

.PHONY: train test lint install extras chromium

# `make train` installs what training needs, no more; `make test` adds the extras: dev (the
# test tools), ray (`hrrl ablate --ray`, whose test runs a real local Ray), box2d and minatar
# (the LunarLander-v3 and MinAtar tasks), video (moviepy, for --video), tune (Optuna, for
# hrrl tune) and atari (ale-py and OpenCV, for ALE/ games). constraints.txt pins the releases
# CI tests.
$(BIN)/hrrl: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(BIN)/hrrl

$(VENV)/.extras: $(BIN)/hrrl
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,ray,box2d,minatar,video,tune,atari]'
	touch $(VENV)/.extras

install: $(BIN)/hrrl

extras: $(VENV)/.extras

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

lint: extras
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: extras chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2
