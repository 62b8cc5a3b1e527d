# Two commands do all the set-up (see README):
#   make demo   create the environment, load the synthetic demo town, serve it on :8000
#   make test   create the environment and run every check and test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean messages

$(BIN)/.installed: pyproject.toml constraints.txt geo_service/static/vendor.lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/geo-service assets
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/geo-service demo
	$(BIN)/geo-service serve

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_hotspots.py
	$(BIN)/python bench/price_of_privacy.py
	$(BIN)/python bench/bench_routing.py
	$(BIN)/python bench/bench_siting.py --spopt-seconds 120
	$(BIN)/python bench/bench_emerging.py
	$(BIN)/python bench/bench_stscan.py
	$(BIN)/python bench/bench_ears.py  # runs R's earsC too (about 5 minutes)
	$(BIN)/python bench/bench_alerts.py
	$(BIN)/python bench/bench_ogc.py  # needs GDAL's ogr2ogr (gdal-bin)
	$(BIN)/python bench/bench_load.py  # needs PostgreSQL: GEO_SERVICE_TEST_POSTGRES_URL
	$(BIN)/python bench/bench_city_cold.py  # PostgreSQL too when GEO_SERVICE_TEST_POSTGRES_URL is set

# The words to translate: extract every _(), ngettext() and N_() of geo_service/ and maps/
# (python and templates, see babel.cfg) into the template catalogue, then bring each
# language's catalogue up to date with it (new messages appear there untranslated).
messages: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg --no-location --project=geo-service -o maps/locale/messages.pot .
	$(BIN)/pybabel update -i maps/locale/messages.pot -d maps/locale

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
