"""Time per verdict as a user gets it: the real `medrdf predict` CLI on a class-balanced sample of test images.

Issue 16's targets are about what a radiologist waits for, so this runs the installed command line (one process,
default settings unless given: adaptive sampling with a cap of 10,000, `--backend auto`) and reads each image's
`elapsed_s` (the engine's time for that image: base prediction, scope and squeezing checks, the vote) from its
JSON output, plus the wall time of the whole process (start-up, model verification, backend export/compile).
Speeds vary with the machine and with what else runs on it: the script prints the CPU, its load average before
and after, and the backend that ran, so a figure is never quoted without them.

    python scripts/latency.py ../shared/data/cxr3/test --per-class 10
    python scripts/latency.py ../shared/data/cxr3/test --per-class 1 -- --sampling fixed --n 10000

Everything after `--` is passed to `medrdf predict` unchanged.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medrdf_gui.robust.device import cpu_model  # noqa: E402

SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm"}


def sample(root: Path, per_class: int, seed: int) -> list[Path]:
    """``per_class`` images from each class folder, drawn with a fixed seed (sorted first: reproducible)."""
    rng = random.Random(seed)
    picked: list[Path] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
        picked += rng.sample(files, min(per_class, len(files)))
    return picked


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a split folder with one sub-folder per class")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="which images are drawn (the vote's seed is predict's)")
    parser.add_argument("--medrdf", default=str(Path(sys.executable).with_name("medrdf")),
                        help="the medrdf executable (default: beside this Python)")
    args = parser.parse_args(argv)
    images = sample(args.data, args.per_class, args.seed)
    if not images:
        print(f"latency: no images under {args.data}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    command = [args.medrdf, "predict", "--json", *extra, *map(str, images)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    elapsed = [row["elapsed_s"] for row in rows]
    used = [row["n_used"] for row in rows]
    summary = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "load_average_before": load_before[0],
        "load_average_after": load_after[0], "device": rows[0]["device"], "sampling": rows[0]["sampling"],
        "predict_arguments": extra, "images": len(rows),
        "elapsed_s": {"median": statistics.median(elapsed), "p90": percentile(elapsed, 0.9), "max": max(elapsed),
                      "first": elapsed[0]},
        "copies": {"median": statistics.median(used), "max": max(used)},
        "process_wall_s": round(wall, 2),
        "process_overhead_s": round(wall - sum(elapsed), 2),
        "verdicts": {v: sum(row["verdict"] == v for row in rows) for v in sorted({row["verdict"] for row in rows})},
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
