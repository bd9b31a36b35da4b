#!/usr/bin/env python
"""Do channels_last convolutions change any decision of a model on a test split?

The engine runs models in channels_last memory format for speed. Reordering memory changes the order of
floating-point sums, so logits can differ in the last bits; this script measures the largest logit difference
and counts argmax disagreements on every image of a split, and times both formats on the same batches.

    python scripts/check_channels_last.py ../shared/data/cxr3/test --model cxr3-resnet18
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from medrdf_gui.modelzoo import load_model
from medrdf_gui.training.data import load_image_set


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split_dir", type=Path)
    ap.add_argument("--model", default="cxr3-resnet18")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    model = load_model(args.model)
    card = model.card
    images = load_image_set(args.split_dir.parent, args.split_dir.name, card.channels, card.input_size, card.classes)
    x_all = images.images.float() / 255.0
    outputs, seconds = {}, {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        module = model.module.to(memory_format=fmt)
        chunks, start = [], time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(images), args.batch_size):
                chunks.append(module(x_all[i : i + args.batch_size].contiguous(memory_format=fmt)))
        seconds[str(fmt)] = time.perf_counter() - start
        outputs[str(fmt)] = torch.cat(chunks)
    a, b = outputs.values()
    flips = int((a.argmax(1) != b.argmax(1)).sum())
    t_plain, t_cl = seconds.values()
    print(f"{len(images)} images · max |Δlogit| {float((a - b).abs().max()):.2e} · argmax changes {flips} · "
          f"contiguous {len(images) / t_plain:.1f} img/s · channels_last {len(images) / t_cl:.1f} img/s "
          f"(×{t_plain / t_cl:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
