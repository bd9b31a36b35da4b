#!/usr/bin/env python
"""The paper's TABLE I (noise level σ × attack budget ε) and each σ's envelope, from `medrdf evaluate` records.

Each argument is ``EPS=RECORDS``: the records of one run at that budget (ε in 1/255 units), made with
``--sigmas`` so that every MedRDF row carries its σ, e.g. for ε = 8:

    medrdf evaluate --data ../shared/data/cxr3/test --model cxr3-resnet18 --attacks pgd100,eot-pgd-smooth \\
        --sigmas 0.05,0.1,0.15,0.2,0.25,0.3 --eps 8 --n 1000 --sampling adaptive --limit 96 --seed 0 \\
        --out results/table1-cxr3-e8
    python scripts/table1.py 1=results/table1-cxr3-e1/records.jsonl … 8=results/table1-cxr3-e8/records.jsonl

Cells: worst case per image over ``--attacks`` (default: every attack all runs share for the column), images in
brackets; ε = 0 is the natural accuracy of the first run. The envelope line is the rule of the card and the
settings panel (``modelzoo.card.envelopes``): the largest ε up to which every measured ε kept ≥ 80 %. The paper's
TABLE I (PGD-100 on ResNet-50, COVID-19) is printed beside it for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medrdf_gui.attacks import tables  # noqa: E402

# ../shared/paper/medrdf-paper.txt, TABLE I: MedRDF (s.p. + MF) on COVID-19 with ResNet-50 under PGD-100; ε rows.
PAPER_SIGMAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
PAPER_TABLE_I = {0: (93.4, 91.6, 77.4, 50.0, 45.8, 30.0), 2: (93.0, 91.8, 79.4, 51.6, 45.8, 44.2),
                 4: (92.4, 91.8, 82.0, 54.0, 46.0, 44.0), 8: (91.1, 91.2, 84.8, 59.6, 47.0, 44.2),
                 16: (87.8, 91.4, 89.4, 73.0, 51.2, 46.6)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="EPS=RECORDS (ε in 1/255 units)")
    parser.add_argument("--attacks", default=None, help="comma-separated attacks of the worst case (default: all shared)")
    parser.add_argument("--balanced", action="store_true", help="class-balanced accuracy")
    args = parser.parse_args()

    runs = []
    for spec in args.runs:
        eps, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"{spec!r} is not EPS=RECORDS")
        runs.append((float(eps), tables.load_records([Path(path)])))
    attacks = args.attacks.split(",") if args.attacks else None
    header, lines, envelopes = tables.sigma_eps_table(runs, attacks, args.balanced)
    what = "class-balanced worst case" if args.balanced else "worst case"
    print(f"Ours ({what} per image in %, images in brackets):\n")
    print(tables.markdown(header, lines))
    print("\nEnvelope (largest ε up to which every measured ε kept ≥ 80 %; 'first below' in brackets):\n")
    cells = []
    for env in envelopes:
        below = env["first_below"]
        if env["worst_case_accuracy"] is None:
            text = "none: below 80 % on clean images already"
        elif env["epsilon"] == 0:
            text = "clean images only"
        else:
            text = f"ε = {env['epsilon']:g}/255"
        if below and below["epsilon"] > 0:
            text += f" (first below: {below['epsilon']:g}/255, {below['worst_case_accuracy']:.1f} %)"
        elif below:
            text += f" ({below['worst_case_accuracy']:.1f} % natural)"
        else:
            text += " (none measured below)"
        cells.append(f"{env['row']}: {text}")
    print("\n".join(f"* {c}" for c in cells))
    print("\nThe paper's TABLE I (PGD-100, ResNet-50, COVID-19):\n")
    print(tables.markdown(["ε"] + [f"σ = {s:g}" for s in PAPER_SIGMAS],
                          [[f"{e}/255" if e else "0"] + [f"{v:.1f}" for v in row] for e, row in PAPER_TABLE_I.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
