# The two commands of the README. Both set everything up first (idempotent), then do their job.
#   make run    start the viewer (on a cxr3 test image when ../shared/data is beside the repo)
#   make test   run the whole test suite (headless)
SHELL := /bin/bash
DATA ?= $(if $(MEDRDF_DATA_DIR),$(MEDRDF_DATA_DIR),../shared/data)
DEMO_IMAGE := $(DATA)/cxr3/test/covid/COVID-1006.png

.PHONY: run test setup bundle bundle-cpu clean
setup:
	@scripts/bootstrap.sh

run: setup
	@if [ -f "$(DEMO_IMAGE)" ]; then .venv/bin/medrdf-gui "$(DEMO_IMAGE)"; else .venv/bin/medrdf-gui; fi

test: setup
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -m "not slow"

# One-folder desktop bundle in dist/medrdf-viewer/ (docs/packaging.md). PyInstaller comes from the `bundle` extra;
# the last step proves the frozen app starts. Check it fully with: dist/medrdf-viewer/medrdf-viewer --self-test
bundle: setup
	@if [ ! -f .venv/.bundle-installed ] || [ pyproject.toml -nt .venv/.bundle-installed ]; then \
		echo "bundle: installing PyInstaller (the bundle extra)" >&2; \
		.venv/bin/python -m pip install -q -e ".[bundle]" && touch .venv/.bundle-installed; fi
	.venv/bin/pyinstaller --noconfirm build_app.spec
	dist/medrdf-viewer/medrdf-viewer --version

# The CPU-only bundle in dist/medrdf-viewer-cpu/ (docs/packaging.md, "CPU bundle"): its own build venv .venv-cpu/
# with torch's CPU build and no torchvision, the same build_app.spec with `-- --cpu`, then --version and --self-test.
bundle-cpu:
	scripts/build_cpu_bundle.sh

clean:
	rm -rf build dist .pytest_cache
