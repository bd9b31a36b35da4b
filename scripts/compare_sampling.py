#!/usr/bin/env python
"""Adaptive vs fixed sampling on a labelled split: forward passes and verdict agreement.

Fixed n = 10,000 costs about 4 minutes per 224² image on a 2-core CPU, so running it on every image of a split
is a GPU job. The comparison is therefore run in three resumable steps whose design keeps the result exact
where it can be and measured where it must be:

1. ``adaptive`` runs adaptive sampling (cap n) on every image and records counts, n_used and the RM interval.
2. ``fixed`` runs fixed n on the images whose agreement is not already known. Each image has its own seed,
   and both modes draw batches of the same size from the same generator, so adaptive's copies are a prefix of
   fixed's. That splits the images into three strata:

   * **exact**: adaptive ran to the cap, so its counts *are* the fixed run's counts; the fixed verdict is
     ``decide(counts, α)`` and needs no rerun;
   * **bounded**: adaptive stopped early with *accept* and RM's lower confidence bound well above the threshold.
     Disagreement needs either a failed confidence sequence (probability ≤ α/2) or a fixed-n estimate that
     misses the true margin (Hoeffding, ≤ (K−1)·exp(−n·((RM_low − threshold)/K)²/2)); their sum is the image's
     derived bound. A random sample of these is rerun at fixed n as an empirical check, in a seeded random
     order so that any prefix of the work is itself a simple random sample;
   * **close**: everything else (settled *re-evaluate*, or a derived bound above ``--bound``): all rerun.
3. ``summary`` prints the totals: forward passes of each mode, their ratio, and agreement per stratum.

    python scripts/compare_sampling.py adaptive ../shared/data/cxr3/test --out ~/.cache/medrdf/compare
    python scripts/compare_sampling.py fixed ../shared/data/cxr3/test --out ~/.cache/medrdf/compare --sample 20
    python scripts/compare_sampling.py summary --out ~/.cache/medrdf/compare
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from medrdf_gui.attacks.evaluate import balanced_files
from medrdf_gui.modelzoo import load_model
from medrdf_gui.robust import RobustSettings, robust_predict
from medrdf_gui.robust.vote import decide

RECORDS = "records.jsonl"


def image_seed(relative: str) -> int:
    """A per-image seed that does not depend on which other images are in the run."""
    return zlib.crc32(relative.encode())


def verdict_of(record: dict) -> tuple[int | None, str]:
    """What must be identical: the label (None when abstained) and accept / re-evaluate."""
    return (None if record["abstained"] else record["top"]), record["verdict"]


def derived_bound(record: dict) -> float:
    """Upper bound on P(fixed-n verdict ≠ this early-stopped adaptive *accept*); 1.0 when none applies."""
    k, n, threshold = len(record["counts"]), record["n"], record["threshold"]
    if record["n_used"] >= n or record["verdict"] != "accept":
        return 1.0
    margin = (record["rm_interval"][0] - threshold) / k
    if margin <= 0:
        return 1.0
    return min(1.0, record["alpha"] / 2 + (k - 1) * math.exp(-n * margin * margin / 2))


def stratum(record: dict, bound: float) -> str:
    if record["n_used"] >= record["n"]:
        return "exact"
    return "bounded" if derived_bound(record) <= bound else "close"


def load_records(out: Path) -> dict[tuple[str, str], dict]:
    path = out / RECORDS
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["file"], r["mode"]): r for r in rows}


def run_one(model, split: Path, relative: str, label: int, mode: str, args) -> dict:
    x = model.input_tensor(split / relative)
    settings = RobustSettings(n=args.n, batch_size=args.batch_size, device=args.device, sampling=mode,
                              alpha=args.alpha, seed=image_seed(relative))
    started = time.perf_counter()
    result = robust_predict(model, x, settings)
    return {"file": relative, "label": label, "mode": mode, "n": result.n, "n_used": result.n_used,
            "batch_size": args.batch_size, "seed": result.seed, "alpha": args.alpha,
            "threshold": result.rm_threshold, "counts": list(result.counts.values()),
            "top": result.classes.index(result.top_class), "abstained": result.abstained,
            "verdict": result.verdict, "rm": result.rm,
            "rm_interval": list(result.rm_interval) if result.rm_interval else None,
            "seconds": round(time.perf_counter() - started, 2)}


def append(out: Path, row: dict) -> None:
    with (out / RECORDS).open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def split_files(split: Path, classes: list[str], limit: int | None) -> list[tuple[str, int]]:
    return [(str(p.relative_to(split)), label) for p, label in balanced_files(split, classes, limit)]


def cmd_adaptive(args) -> int:
    model = load_model(args.model)
    done = load_records(args.out)
    files = split_files(args.split, model.classes, args.limit)
    for i, (relative, label) in enumerate(files):
        if (relative, "adaptive") in done:
            continue
        row = run_one(model, args.split, relative, label, "adaptive", args)
        append(args.out, row)
        print(f"[{i + 1}/{len(files)}] {relative}: n_used {row['n_used']} {row['verdict']} "
              f"rm {row['rm']:.2f} {row['seconds']} s", flush=True)
    return 0


def fixed_queue(records: dict, bound: float, sample: int, seed: int) -> list[dict]:
    """Close images first (all of them), then a seeded random sample of bounded ones."""
    adaptive = sorted((r for (_, mode), r in records.items() if mode == "adaptive"), key=lambda r: r["file"])
    close = [r for r in adaptive if stratum(r, bound) == "close"]
    bounded = [r for r in adaptive if stratum(r, bound) == "bounded"]
    random.Random(seed).shuffle(bounded)
    return close + bounded[:sample]


def cmd_fixed(args) -> int:
    model = load_model(args.model)
    records = load_records(args.out)
    queue = fixed_queue(records, args.bound, args.sample, args.sample_seed)
    for i, record in enumerate(queue):
        if (record["file"], "fixed") in records:
            continue
        if (record["n"], record["batch_size"], record["alpha"]) != (args.n, args.batch_size, args.alpha):
            raise SystemExit(f"{record['file']}: adaptive was run with other settings; use the same --n, "
                             "--batch-size and --alpha.")
        row = run_one(model, args.split, record["file"], record["label"], "fixed", args)
        append(args.out, row)
        agree = verdict_of(row) == verdict_of(record)
        print(f"[{i + 1}/{len(queue)}] {record['file']} ({stratum(record, args.bound)}): fixed {row['verdict']} "
              f"rm {row['rm']:.2f} vs adaptive {record['verdict']} at {record['n_used']} copies: "
              f"{'identical' if agree else 'DIFFERENT'} ({row['seconds']} s)", flush=True)
    return 0


def cmd_summary(args) -> int:
    records = load_records(args.out)
    adaptive = [r for (_, mode), r in sorted(records.items()) if mode == "adaptive"]
    if not adaptive:
        raise SystemExit(f"no adaptive records in {args.out}")
    n_images = len(adaptive)
    caps = {r["n"] for r in adaptive}
    cap = caps.pop() if len(caps) == 1 else None
    passes_adaptive = sum(r["n_used"] for r in adaptive)
    passes_fixed = sum(r["n"] for r in adaptive)  # fixed mode draws exactly n (checked below on every rerun)
    used = np.array([r["n_used"] for r in adaptive])
    lines = [f"images {n_images} · cap n = {cap:,} · batch {adaptive[0]['batch_size']} · "
             f"α = {adaptive[0]['alpha']}",
             f"forward passes: fixed {passes_fixed:,} · adaptive {passes_adaptive:,} · "
             f"reduction {passes_fixed / passes_adaptive:.1f}×",
             f"adaptive n_used: median {int(np.median(used))}, 90th percentile {int(np.percentile(used, 90))}, "
             f"max {int(used.max())}; stopped at the cap {int((used >= cap).sum()) if cap else '?'}",
             f"adaptive verdicts: {sum(r['verdict'] == 'accept' for r in adaptive)} accept, "
             f"{sum(r['verdict'] != 'accept' for r in adaptive)} re-evaluate, "
             f"{sum(r['abstained'] for r in adaptive)} abstained"]
    identical = checked = 0
    bound_sum = 0.0
    for name in ("exact", "close", "bounded"):
        group = [r for r in adaptive if stratum(r, args.bound) == name]
        same = total = 0
        for r in group:
            fixed = records.get((r["file"], "fixed"))
            if fixed is not None:
                if not fixed["n_used"] == sum(fixed["counts"]) == fixed["n"]:
                    raise SystemExit(f"{r['file']}: a fixed run drew {fixed['n_used']} of {fixed['n']} copies")
                other = verdict_of(fixed)
            elif name == "exact":  # identical counts: the fixed verdict is the fixed-n rule on them
                outcome = decide(np.array(r["counts"]), r["alpha"], r["threshold"])
                other = outcome.label, outcome.verdict  # label is None when abstained, as in verdict_of
            else:
                continue
            total += 1
            same += other == verdict_of(r)
        identical += same
        checked += total
        detail = f"{name}: {len(group)} images, verdict identical on {same}/{total} compared"
        if name == "bounded" and group:
            unchecked = [r for r in group if (r["file"], "fixed") not in records]
            bound_sum = sum(derived_bound(r) for r in unchecked)
            detail += (f"; the {len(unchecked)} not rerun have a summed disagreement bound of {bound_sum:.3f} "
                       f"(largest single bound {max((derived_bound(r) for r in group), default=0):.2e})")
        lines.append(detail)
    uncompared = n_images - checked
    lines.append(f"identical verdicts: {identical}/{checked} compared"
                 + (f"; with the {uncompared} uncompared images counted by their bound, expected identical "
                    f"≥ {100 * (identical + uncompared - bound_sum) / n_images:.2f} %" if uncompared else
                    f" ({100 * identical / n_images:.2f} %)"))
    print("\n".join(lines))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("adaptive", "fixed", "summary"):
        p = sub.add_parser(name)
        if name != "summary":
            p.add_argument("split", type=Path)
            p.add_argument("--model", default="cxr3-resnet18")
            p.add_argument("--n", type=int, default=10_000, help="fixed n, and the adaptive cap")
            p.add_argument("--batch-size", type=int, default=100)
            p.add_argument("--alpha", type=float, default=0.001)
            p.add_argument("--device", default="auto")
            p.add_argument("--limit", type=int, default=None, help="class-balanced subset (default: all)")
        p.add_argument("--out", type=Path, required=True, help="folder for records.jsonl (resumable)")
        p.add_argument("--bound", type=float, default=1e-3,
                       help="largest derived disagreement bound for the bounded stratum (default 1e-3)")
        p.add_argument("--sample", type=int, default=20, help="bounded images rerun at fixed n")
        p.add_argument("--sample-seed", type=int, default=20261125)
    args = ap.parse_args()
    args.out = args.out.expanduser()
    args.out.mkdir(parents=True, exist_ok=True)
    return {"adaptive": cmd_adaptive, "fixed": cmd_fixed, "summary": cmd_summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
