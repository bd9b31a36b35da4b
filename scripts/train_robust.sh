#!/usr/bin/env bash
# Train (or resume) the adversarial-training candidates of TABLE XI one after another, exporting each into
# ~/.cache/medrdf/candidates/ (not models/: only the winner is shipped, with --export-as). Safe to re-run after an
# interruption: every recipe resumes from its last finished epoch and a finished one only re-exports.
#   nohup scripts/train_robust.sh > ~/.cache/medrdf/train_robust.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${MEDRDF_CANDIDATES_DIR:-$HOME/.cache/medrdf/candidates}
THREADS=${THREADS:-2}
RECIPES=${RECIPES:-"cxr3-resnet18-at-pgd derma7-resnet18-at-pgd cxr3-resnet18-at-trades derma7-resnet18-at-trades cxr3-resnet18-at-mart derma7-resnet18-at-mart"}
for recipe in $RECIPES; do
    echo "== $(date -Is) $recipe"
    nice -n 10 .venv/bin/medrdf train "$recipe" --threads "$THREADS" --out "$OUT" || echo "!! $recipe failed ($?)"
done
echo "== $(date -Is) done"
