# The two commands of the README. Both set everything up first (idempotent), then do their job.
#   make run    start the viewer (on a cxr3 test image when ../shared/data is beside the repo)
#   make test   run the whole test suite (headless)
SHELL := /bin/bash
DATA ?= $(if $(MEDRDF_DATA_DIR),$(MEDRDF_DATA_DIR),../shared/data)
DEMO_IMAGE := $(DATA)/cxr3/test/covid/COVID-1006.png

.PHONY: run test setup bundle clean
setup:
	@scripts/bootstrap.sh

run: setup
	@if [ -f "$(DEMO_IMAGE)" ]; then .venv/bin/medrdf-gui "$(DEMO_IMAGE)"; else .venv/bin/medrdf-gui; fi

test: setup
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -m "not slow"

bundle: setup
	.venv/bin/python -m pip install -q -e ".[bundle]" && .venv/bin/pyinstaller --noconfirm build_app.spec

clean:
	rm -rf build dist .pytest_cache
