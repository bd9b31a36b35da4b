"""Time from launching the viewer to its main window being viewable on an X server (Xvfb), for docs/packaging.md.

Why polling ``xwininfo``: the app prints nothing when its window appears, and the measurement must not change
the app. The window counts as shown when X reports it ``IsViewable`` (mapped), which is what a user sees.
Each run gets a fresh settings file, so no recent-files list or restored state skews it.

    python packaging/measure_startup.py --runs 5 -- dist/medrdf-viewer/medrdf-viewer
    python packaging/measure_startup.py --runs 5 -- .venv/bin/medrdf-gui
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "MedRDF Viewer"


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """Xvfb on a display number it picks itself (``-displayfd``): no race with other X servers on the machine."""
    read_end, write_end = os.pipe()
    # -noreset: by default X resets when its last client leaves; the xwininfo polls are often that last client
    # while the app is still importing torch, and an app connecting during a reset fails ("could not connect").
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1600x1000x24", "-nolisten",
                               "tcp", "-noreset"], pass_fds=(write_end,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        raise SystemExit("Xvfb did not start")
    return server, f":{number}"


def viewable(display: str) -> bool:
    done = subprocess.run(["xwininfo", "-display", display, "-name", TITLE], capture_output=True, text=True)
    return done.returncode == 0 and "IsViewable" in done.stdout


def one_run(command: list[str], display: str, timeout: float) -> float:
    with tempfile.TemporaryDirectory(prefix="medrdf-startup-") as tmp:
        env = {**os.environ, "DISPLAY": display, "MEDRDF_SETTINGS_PATH": str(Path(tmp) / "settings.ini"),
}
        env.pop("QT_QPA_PLATFORM", None)
        log = open(Path(tmp) / "app.log", "w")
        started = time.perf_counter()
        app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            while time.perf_counter() - started < timeout:
                if app.poll() is not None:
                    log.close()
                    tail = (Path(tmp) / "app.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"{command[0]} exited with {app.returncode} before showing a window:\n{tail}")
                if viewable(display):
                    return time.perf_counter() - started
                time.sleep(0.02)
            raise SystemExit(f"no window within {timeout} s")
        finally:
            log.close()
            app.terminate()
            try:
                app.wait(10)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    if shutil.which("Xvfb") is None or shutil.which("xwininfo") is None:
        raise SystemExit("needs Xvfb and xwininfo (apt-get install xvfb x11-utils)")
    server, display = start_xvfb()
    try:
        times = [one_run(args.command, display, args.timeout) for _ in range(args.runs)]
    finally:
        server.terminate()
        server.wait(10)
    print(" ".join(f"{t:.2f}" for t in times))
    print(f"first {times[0]:.2f} s, median {statistics.median(times):.2f} s, min {min(times):.2f} s over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
