#!/usr/bin/env python
"""ROC curves of the two thresholded alerts (out-of-scope score, feature-squeezing statistic) against attacks,
from `medrdf evaluate` records, with the card's operating point marked.

Positives are the images an attack made wrong (what the alert should flag), negatives the clean, correctly
diagnosed images (what it must not flag), both from the MedRDF row; the curve and AUROC come from
`medrdf_gui.attacks.tables` (`medrdf tables --kind roc` prints the same numbers as a table).

    python scripts/roc_curves.py docs/results/cxr3-resnet18-at-xi-96img.records.jsonl.gz --model cxr3-resnet18-at \\
        --with-detectors --out docs/roc-cxr3-resnet18-at.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medrdf_gui.attacks import tables  # noqa: E402
from medrdf_gui.modelzoo import resolve_card  # noqa: E402

SCORES = (("ood_score", "scope", "Out-of-scope score"), ("squeeze_score", "detector", "Feature-squeezing statistic"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--model", required=True, help="the model whose card holds the thresholds")
    parser.add_argument("--row", default="MedRDF salt-pepper + MF", help="the MedRDF row (default: the paper's)")
    parser.add_argument("--with-detectors", action="store_true", help="only images whose votes carry both scores")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()

    records = tables.load_records(args.records)
    if args.with_detectors:
        records = tables.with_detectors(records, args.row)
    card = resolve_card(args.model)
    attacks = sorted({r["attack"] for r in records if r["row"] == args.row} - {tables.NATURAL})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), dpi=120)
    for ax, (field, entry, title) in zip(axes, SCORES):
        threshold = (getattr(card, entry, None) or {}).get("threshold")
        for attack in attacks:
            negatives, positives = tables.score_separation(records, args.row, attack, field)
            if not positives or not negatives:
                continue
            fpr, tpr = tables.roc_curve(negatives, positives)
            area = tables.auroc(negatives, positives)
            line, = ax.plot(fpr, tpr, drawstyle="steps-post", label=f"{attack}: AUROC {area:.2f} ({len(positives)} wrong)")
            if threshold is not None:
                ax.scatter(*tables.operating_point(negatives, positives, threshold), color=line.get_color(),
                           edgecolor="black", zorder=5)
            print(f"{title:28s} {attack:16s} AUROC {area:.3f}  positives {len(positives)}  negatives {len(negatives)}")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.axvline(0.05, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("false alarms (clean, correctly diagnosed images)")
        ax.set_ylabel("caught (images the attack made wrong)")
        ax.set_title(f"{title}\n(dots: the card's threshold {threshold:.4g}; dashed: 5 % false alarms)"
                     if threshold is not None else title, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{card.name}, {args.row}: alerts as detectors", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
