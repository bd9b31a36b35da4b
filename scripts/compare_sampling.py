#!/usr/bin/env python
"""Adaptive vs fixed sampling on a folder of labelled images: forward passes and verdict agreement.

For each image both modes run with the same seed (so adaptive's copies are a prefix of fixed's draw) and the
script prints per-image rows and the totals: forward passes of each mode, their ratio, and the share of images
whose verdict (label or abstain, accept or re-evaluate) is identical.

    python scripts/compare_sampling.py ../shared/data/cxr3/test --model cxr3-resnet18 --n 10000 --limit 60
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from medrdf_gui.attacks.evaluate import balanced_files
from medrdf_gui.modelzoo import load_model
from medrdf_gui.robust import RobustSettings, robust_predict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split_dir", type=Path)
    ap.add_argument("--model", default="cxr3-resnet18")
    ap.add_argument("--n", type=int, default=10_000, help="fixed n, and the adaptive cap")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--jsonl", type=Path, default=None, help="append per-image rows here")
    args = ap.parse_args()

    model = load_model(args.model)
    base = RobustSettings(n=args.n, batch_size=args.batch_size, device=args.device)
    files = balanced_files(args.split_dir, model.classes, args.limit)
    passes = {"fixed": 0, "adaptive": 0}
    same = 0
    started = time.perf_counter()
    for i, (path, label) in enumerate(files):
        x = model.input_tensor(path)
        fixed = robust_predict(model, x, base.with_(seed=i))
        adaptive = robust_predict(model, x, base.with_(seed=i, sampling="adaptive"))
        passes["fixed"] += fixed.n_used
        passes["adaptive"] += adaptive.n_used
        agree = (fixed.label, fixed.verdict) == (adaptive.label, adaptive.verdict)
        same += agree
        row = {"file": path.name, "label": label, "fixed": [fixed.label, fixed.verdict, round(fixed.rm, 3)],
               "adaptive": [adaptive.label, adaptive.verdict, round(adaptive.rm, 3), adaptive.n_used], "agree": agree}
        print(json.dumps(row), flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    total = len(files)
    print(f"images {total} · fixed passes {passes['fixed']:,} · adaptive passes {passes['adaptive']:,} · "
          f"reduction {passes['fixed'] / max(1, passes['adaptive']):.1f}× · identical verdicts {same}/{total} "
          f"({100 * same / total:.1f} %) · {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
