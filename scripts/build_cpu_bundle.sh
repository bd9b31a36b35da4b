#!/usr/bin/env bash
# make bundle-cpu: the CPU-only desktop bundle dist/medrdf-viewer-cpu/ (docs/packaging.md, "CPU bundle").
#
# 1. A build venv of its own, .venv-cpu/ (git-ignored; the development venv keeps its CUDA torch), holding torch's
#    CPU build, no torchvision, and the project's other dependencies plus PyInstaller, read from pyproject.toml by
#    scripts/cpu_requirements.py (the project itself goes in with --no-deps: its pins name the CUDA torch).
#    Re-installed when pyproject.toml or this script is newer than the venv's stamp.
# 2. PyInstaller on the same build_app.spec with `-- --cpu` (its own work folder build/cpu/).
# 3. The frozen app's --version and --self-test (which votes on OpenVINO, the fast CPU backend).
#
# Environment: PYTHON (default python3), TORCH_CPU (default torch==2.13.0+cpu: the CPU wheel on this machine's
# disk; elsewhere e.g. TORCH_CPU=torch==2.14.1+cpu PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu),
# NICE (default 10, PyInstaller's niceness), DISTPATH (default dist) and WORKPATH (default build/cpu) for
# PyInstaller's output and work folders, SELF_TEST=0 to skip the self-test.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv-cpu
STAMP=$VENV/.installed
TORCH_CPU=${TORCH_CPU:-torch==2.13.0+cpu}
NAME=medrdf-viewer-cpu

if [ ! -x "$VENV/bin/python" ]; then
    echo "bundle-cpu: creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ scripts/build_cpu_bundle.sh -nt "$STAMP" ] \
        || [ "$(cat "$VENV/.torch" 2>/dev/null)" != "$TORCH_CPU" ]; then
    echo "bundle-cpu: installing $TORCH_CPU and the project's other dependencies into $VENV" >&2
    "$VENV/bin/python" scripts/cpu_requirements.py > "$VENV/requirements.txt"
    # One resolution for torch and the rest, so that nothing can swap the CPU build for a CUDA one.
    "$VENV/bin/python" -m pip install -q "$TORCH_CPU" -r "$VENV/requirements.txt"
    "$VENV/bin/python" -m pip install -q --no-deps -e .
    if "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torchvision") is None)'; then
        echo "bundle-cpu: torchvision is installed in $VENV; the CPU bundle must not contain it" >&2
        exit 1
    fi
    echo "$TORCH_CPU" > "$VENV/.torch"
    touch "$STAMP"
fi

DIST=${DISTPATH:-dist}
nice -n "${NICE:-10}" "$VENV/bin/pyinstaller" --noconfirm --distpath "$DIST" --workpath "${WORKPATH:-build/cpu}" \
    build_app.spec -- --cpu --name "$NAME"
"$DIST/$NAME/$NAME" --version
if [ "${SELF_TEST:-1}" != 0 ]; then
    "$DIST/$NAME/$NAME" --self-test
fi
