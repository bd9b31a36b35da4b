#!/usr/bin/env bash
# The GPU measurements of docs/robustness.md and docs/performance.md, as one bounded run on a lent GPU.
#
#   scripts/device_run.sh DATA_DIR OUT_DIR [SECONDS]
#
# DATA_DIR holds cxr3/test (a copy of ../shared/data, which does not travel to the device machine); OUT_DIR gets
# run.log and one folder of resumable evaluation records per stage. Each stage is bounded by what is left of
# SECONDS (default 560), so the run ends on its own and returns whatever it finished; evaluation stages resume from
# their records when run again. On an H200 (2026-11-26) stages 1-3 took about 400 s, so stage 4 gets about 150 s
# of its ~180 and stage 5 what is left: docs/robustness.md says which figures came from which run. Stages, cheapest
# and most needed first:
#   1. CUDA-path tests (tests/test_cuda.py)   2. bench + one n = 10,000 diagnosis
#   3. cxr3, all test images, s.p. + MF, n = 1,000: natural, PGD-20, C&W, three adaptive attacks
#   4. cxr3, TABLE III layout (3 noises x 3 denoisers, every attack), n = 100, first 96 images
#   5. cxr3, s.p. + MF at the paper's n = 10,000 (adaptive stopping), as many images as time allows
set -u
DATA=${1:?data dir}; OUT=${2:?out dir}; BUDGET=${3:-560}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}        # a dry run here: DEVICE=cpu MODEL=<tiny card> LIMIT=2
MODEL=${MODEL:-cxr3-resnet18}
LIMIT=${LIMIT:-}              # images per evaluation stage (default: stage 3 and 5 all, stage 4 96)
START=$(date +%s)
LOG="$OUT/run.log"
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=20 MEDRDF_DATA_DIR="$DATA" MEDRDF_AUDIT_LOG=off
mkdir -p "$OUT"

left() { echo $((BUDGET - ($(date +%s) - START))); }
cap() { local want=$1 reserve=$2 l; l=$(($(left) - reserve)); echo $((want < l ? want : (l > 5 ? l : 5))); }
stage() { echo; echo "=== $1 ($(left) s left) ==="; }
MEDRDF=("$PY" -m medrdf_gui.cli)  # an array, not a function: `timeout` runs programs only

{
  stage "environment"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c "import sys, torch, torchvision, numpy, pydicom; print(sys.version.split()[0], 'torch', torch.__version__,
'torchvision', torchvision.__version__, 'numpy', numpy.__version__, 'pydicom', pydicom.__version__,
'cuda', torch.cuda.is_available())"

  stage "CUDA-path tests"
  timeout "$(cap 120 420)" "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -15

  stage "bench (bare classifier vs pipeline), batch 64 and 1000"
  for bs in 64 1000; do
    timeout "$(cap 60 400)" "${MEDRDF[@]}" bench --model "$MODEL" --device "$DEVICE" --n 8000 --batch-size "$bs" --repeats 5 --json
  done
  stage "one diagnosis at n = 10,000 (fixed) and adaptive"
  for sampling in fixed adaptive; do
    timeout "$(cap 60 380)" "${MEDRDF[@]}" predict --model "$MODEL" "$DATA/cxr3/test/covid/COVID-1006.png" --device "$DEVICE" --n 10000 \
      --batch-size 1000 --seed 0 --sampling "$sampling" --json --no-audit-log
  done

  stage "cxr3 s.p. + MF, all test images, n = 1,000"
  timeout "$(cap 330 150)" "${MEDRDF[@]}" evaluate --data "$DATA/cxr3/test" --model "$MODEL" --device "$DEVICE" \
    --attacks pgd20,cw,eot-pgd,eot-pgd-smooth,eot-pgd-strong --n 1000 --batch-size 1000 --attack-batch 32 --seed 0 \
    ${LIMIT:+--limit "$LIMIT"} --out "$OUT/key" 2>&1 | tail -12

  stage "cxr3 TABLE III layout, n = 100, 96 images"
  timeout "$(cap 200 60)" "${MEDRDF[@]}" evaluate --data "$DATA/cxr3/test" --model "$MODEL" --device "$DEVICE" \
    --attacks fgsm,ifgsm1,ifgsm2,ifgsm5,ifgsm7,pgd7,pgd20,pgd100,cw,square,eot-pgd \
    --noises gaussian,salt-pepper,poisson --denoisers none,gaussian,median --n 100 --batch-size 100 \
    --attack-batch 32 --limit "${LIMIT:-96}" --seed 0 --out "$OUT/full" 2>&1 | tail -14

  stage "cxr3 s.p. + MF at n = 10,000 (adaptive stopping)"
  timeout "$(cap 600 10)" "${MEDRDF[@]}" evaluate --data "$DATA/cxr3/test" --model "$MODEL" --device "$DEVICE" \
    --attacks pgd20,cw,eot-pgd-smooth --n 10000 --batch-size 1000 --sampling adaptive --attack-batch 32 \
    --seed 0 ${LIMIT:+--limit "$LIMIT"} --out "$OUT/n10k" 2>&1 | tail -8
  rm -f "$OUT"/*/table.csv  # the device returns at most 8 files; table.md holds the same figures
  stage "done"
} >>"$LOG" 2>&1
