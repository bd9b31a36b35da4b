#!/usr/bin/env bash
# Idempotent set-up: create .venv when missing, install the project (editable, with test extras) when
# pyproject.toml changed since the last install, install torchattacks (AutoAttack for `medrdf evaluate`) when
# its pinned release is missing, and add the few system libraries Qt's xcb/offscreen platform plugins need and
# the Orthanc PACS server the PACS tests start (Debian package orthanc) when they are absent and apt-get is
# usable. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed
# torchattacks pins requests~=2.25.1, which its code never imports: it is installed with --no-deps so that pip can
# neither downgrade nor add anything, and it is not in pyproject.toml, where pip would resolve that pin.
TORCHATTACKS_VERSION=3.5.1

qt_system_libs() {
    # libraries PySide6's platform plugins dlopen; Debian package names
    local missing=()
    ldconfig -p | grep -q 'libEGL.so.1' || missing+=(libegl1)
    ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1)
    ldconfig -p | grep -q 'libfontconfig.so.1' || missing+=(libfontconfig1)
    ldconfig -p | grep -q 'libxkbcommon.so.0' || missing+=(libxkbcommon0)
    ldconfig -p | grep -q 'libxkbcommon-x11.so.0' || missing+=(libxkbcommon-x11-0)
    ldconfig -p | grep -q 'libxcb-cursor.so.0' || missing+=(libxcb-cursor0)
    ldconfig -p | grep -q 'libdbus-1.so.3' || missing+=(libdbus-1-3)
    ldconfig -p | grep -q 'libxcb-icccm.so.4' || missing+=(libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0)
    if ((${#missing[@]})); then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "bootstrap: installing Qt system libraries: ${missing[*]}" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "bootstrap: warning: Qt may need these system packages: ${missing[*]}" >&2
        fi
    fi
}

pacs_test_server() {
    # Orthanc: the real PACS that tests/test_pacs*.py start on loopback ports (tests/orthanc.py); the Debian
    # package's own service is not used (and not started: there is no init system in CI)
    if command -v Orthanc >/dev/null || [ -x /usr/sbin/Orthanc ]; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing the Orthanc PACS server for the PACS tests (Debian package orthanc)" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc >/dev/null
    else
        echo "bootstrap: warning: the PACS tests need Orthanc (Debian package orthanc); they will fail without it" >&2
    fi
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo "bootstrap: installing medrdf-viewer and its dependencies into $VENV (first time: a few minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    touch "$STAMP"
fi
installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torchattacks"))' 2>/dev/null || true)
if [ "$installed" != "$TORCHATTACKS_VERSION" ]; then
    echo "bootstrap: installing torchattacks $TORCHATTACKS_VERSION without its dependencies" >&2
    "$VENV/bin/python" -m pip install -q --no-deps "torchattacks==$TORCHATTACKS_VERSION"
fi
qt_system_libs
pacs_test_server
