# news-monitor: `make run` starts the daemon, `make test` runs the whole suite.
# Both create .venv and install what they need on first use.

PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
CONFIG  ?= config/watchlist.yaml
STAMP   := $(VENV)/.installed

.PHONY: run once demo check test bench gazetteer lint clean screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test,gazetteer]"   # gazetteer: the rebuild and word-form tests run too
	touch $(STAMP)

run: $(STAMP)                      ## migrate, then run the daemon in the foreground
	mkdir -p var
	$(BIN)/news-monitor -c $(CONFIG) db upgrade
	exec $(BIN)/news-monitor -c $(CONFIG) run

once: $(STAMP)                     ## poll every source once, deliver, exit
	$(BIN)/news-monitor -c $(CONFIG) once

demo: $(STAMP)                     ## the golden scenario, offline, in under a minute
	$(BIN)/news-monitor demo

check: $(STAMP)                    ## validate the config
	$(BIN)/news-monitor -c $(CONFIG) check

test: $(STAMP)                     ## the whole test suite
	$(BIN)/pytest -q

bench: $(STAMP)                    ## measurements behind the README's numbers
	$(BIN)/python bench/bench_dedupe.py
	$(BIN)/python bench/bench_clusters.py
	$(BIN)/python bench/bench_farm.py
	$(BIN)/pip install -q -e ".[bench]"
	PYTHONPATH=.:bench $(BIN)/python bench/bench_pipeline.py
	PYTHONPATH=. $(BIN)/python bench/compare_parsers.py
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_match.py
	$(BIN)/python bench/bench_memory.py

gazetteer: $(STAMP)                ## rebuild monitor/data/gazetteer-ua.json.gz (KATOTTG, GeoNames, pymorphy3 forms)
	$(BIN)/pip install -q -e ".[gazetteer]"
	$(BIN)/python -m monitor.gazetteer_build

screenshots: $(STAMP)              ## docs/*.png: the HTML emails and the status pages in headless Chromium
	$(BIN)/python docs/screenshots.py
	NEWS_MONITOR_SCREENSHOTS=1 $(BIN)/pytest -q tests/test_web_browser.py

clean:
	rm -rf $(VENV) var .pytest_cache *.egg-info

lint: $(STAMP)                     ## ruff and mypy --strict (not part of make test)
	$(BIN)/pip install -q ruff mypy
	$(BIN)/ruff check monitor tests bench migrations
	$(BIN)/mypy --strict --explicit-package-bases --ignore-missing-imports monitor
