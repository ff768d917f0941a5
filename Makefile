# Two commands do all set-up on a fresh machine:
#   make demo   runs the bot (SQLite, web chat and console, no LINE or Discord account needed)
#   make test   runs every test (engine, content, store on SQLite and PostgreSQL, LINE, Discord, browser)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check chat bench setup browser run scale fuzz faults

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the console's browser tests (Playwright's own download does not work here).
# fonts-noto-cjk: without it the screenshots show Japanese as empty boxes. wrk: the benchmark's
# second load generator (bench/line_webhook.py --driver wrk), whose tiny run is a test.
browser:
	@{ command -v chromium >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1; } || { \
	  echo "installing chromium, fonts-noto-cjk and wrk (Debian packages)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk wrk >/dev/null; } \
	  || { [ -z "$$CI" ] && echo "could not install chromium (not root?): the browser tests will be skipped here, CI runs them"; }; }

demo: $(STAMP)
	$(BIN)/python -m bot serve --demo

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The fuzzer for longer than make test gives it (a few seconds per target): FUZZ_SECONDS each.
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	BOT_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -p no:cacheprovider -o timeout=0 tests/fuzz

# Every process of the Procfile at once (honcho); discord only when DISCORD_TOKEN is set.
run: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start web worker $${DISCORD_TOKEN:+discord}

# PostgreSQL: 1 process against 2 web + 2 workers, then one worker killed halfway.
scale: $(STAMP)
	$(BIN)/python bench/scale_test.py

# The fault suite (issue 19): every scenario against the real processes; FAULTS_ARGS for more,
# e.g. FAULTS_ARGS="--only line_slow_60s --report-only" or "--allow-pg-restart" on a machine of your own.
FAULTS_ARGS ?=
faults: $(STAMP)
	$(BIN)/python bench/faults.py $(FAULTS_ARGS)

check: $(STAMP)
	$(BIN)/python -m bot check

chat: $(STAMP)
	$(BIN)/python -m bot chat

bench: $(STAMP)
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/chat_bench.py
