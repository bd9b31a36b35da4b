#!/usr/bin/env python
"""Worst-case accuracy against the attack budget ε, one line per row, from `medrdf evaluate` records.

Each argument is ``EPS=RECORDS`` with ε in 1/255 units and the records of one evaluation run at that budget (the
records do not carry ε; the run's table.md does). The worst case per image is taken over the attacks every run
shares, so the points of a line are comparable; ε = 0 is the natural accuracy of the first run.

    python scripts/eps_curve.py 1=results/d7at-e1/records.jsonl 2=results/d7at-e2/records.jsonl \\
        8=results/derma7-at-xi/records.jsonl --balanced --title "derma7-resnet18-at" --out docs/eps-curve.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medrdf_gui.attacks import tables  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="EPS=RECORDS (ε in 1/255 units)")
    parser.add_argument("--balanced", action="store_true", help="class-balanced accuracy")
    parser.add_argument("--rows", default=None, help="comma-separated rows (default: every row all runs have)")
    parser.add_argument("--title", default="")
    parser.add_argument("--target", action="append", default=[],
                        help="EPS:PERCENT target points to mark, e.g. 8:75")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()

    runs = []
    for spec in args.runs:
        eps, _, path = spec.partition("=")
        runs.append((float(eps), tables.load_records([Path(path)])))
    runs.sort(key=lambda r: r[0])
    rows = args.rows.split(",") if args.rows else sorted(set.intersection(*({r["row"] for r in recs} for _, recs in runs)))

    def row_attacks(row: str) -> list[str]:
        """The attacks every run has for ``row`` (the base model has no adaptive column), natural first."""
        shared = set.intersection(*({r["attack"] for r in recs if r["row"] == row} for _, recs in runs))
        return sorted(shared, key=lambda a: a != tables.NATURAL)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for row in rows:
        natural, n0 = tables.worst_case(runs[0][1], row, [tables.NATURAL], args.balanced)
        attacks = row_attacks(row)
        print(f"{row}: worst case over {', '.join(attacks)}")
        points = [(0.0, natural, n0)] + [(eps, *tables.worst_case(recs, row, attacks, args.balanced)) for eps, recs in runs]
        for eps, acc, n in points:
            print(f"{row:30s} ε = {eps:g}/255: {acc:.1f} % ({n} images)")
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=row)
    for spec in args.target:
        eps, pct = (float(v) for v in str(spec).split(":"))
        ax.scatter([eps], [pct], marker="*", s=120, color="black", zorder=5)
        ax.annotate(f"target {pct:g} %", (eps, pct), textcoords="offset points", xytext=(-60, 6), fontsize=8)
    ax.set_xlabel("ε (in 1/255, L∞)")
    ax.set_ylabel(("balanced " if args.balanced else "") + "worst-case accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xticks([0] + [eps for eps, _ in runs])
    ax.grid(alpha=0.3)
    ax.set_title(args.title or "Worst case per image over the attacks every run shares", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
