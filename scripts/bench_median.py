"""Time the shipped 3×3 median against the two ways it was or could be done, on the same batch in one process.

    python scripts/bench_median.py [--batch 64] [--size 224] [--repeats 5] [--device cpu|cuda] [--threads N]

* unfold + median: the textbook form (a 9-fold copy of the batch, then a sort per pixel): the baseline;
* sorting network: the 19-exchange median-of-9 network on nine shifted views (shipped until 2026-11-26);
* column sort, first form (shipped 2026-11-26 to 2026-12-03): index_select padding, a fresh tensor per pass;
* column sort: what `medrdf_gui.robust.denoise.median3x3` does now (replicate padding, in-place intermediates).

All three must give the same values (checked before timing); the figures are the median of ``repeats`` timings
and the ratios are against the baseline in this run.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from medrdf_gui.robust.bench import timed
from medrdf_gui.robust.denoise import median3x3, symmetric_pad

# Devillard's opt_med9 / Paeth: after these compare-exchanges, element 4 holds the median of nine.
NETWORK = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7), (3, 6),
           (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def unfold_median(x: torch.Tensor) -> torch.Tensor:
    patches = symmetric_pad(x, 1).unfold(-2, 3, 1).unfold(-2, 3, 1)
    return patches.reshape(*patches.shape[:-2], 9).median(dim=-1).values


def sorting_network(x: torch.Tensor) -> torch.Tensor:
    padded = symmetric_pad(x, 1)
    h, w = x.shape[-2:]
    v = [padded[..., i : i + h, j : j + w] for i in range(3) for j in range(3)]
    for a, b in NETWORK:
        v[a], v[b] = torch.minimum(v[a], v[b]), torch.maximum(v[a], v[b])
    return v[4]


def _median3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))


def column_sort_first(x: torch.Tensor) -> torch.Tensor:
    padded = symmetric_pad(x, 1)
    h, w = x.shape[-2:]
    top, centre, bottom = padded[..., 0:h, :], padded[..., 1 : h + 1, :], padded[..., 2 : h + 2, :]
    low_pair, high_pair = torch.minimum(top, centre), torch.maximum(top, centre)
    lo, hi = torch.minimum(low_pair, bottom), torch.maximum(high_pair, bottom)
    mid = torch.maximum(low_pair, torch.minimum(high_pair, bottom))
    left, here, right = slice(0, w), slice(1, w + 1), slice(2, w + 2)
    max_lo = torch.maximum(torch.maximum(lo[..., left], lo[..., here]), lo[..., right])
    min_hi = torch.minimum(torch.minimum(hi[..., left], hi[..., here]), hi[..., right])
    return _median3(max_lo, _median3(mid[..., left], mid[..., here], mid[..., right]), min_hi)


def median_seconds(fn, x: torch.Tensor, repeats: int) -> float:
    return statistics.median(timed(lambda: fn(x), x.device)[0] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.rand(args.batch, 1, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(args.device)
    x = torch.where(x < 0.05, 0.0, torch.where(x > 0.95, 1.0, x))  # salt and pepper, the case MF is for
    methods = {"unfold + median (baseline)": unfold_median, "sorting network": sorting_network,
               "column sort, first form": column_sort_first, "column sort (shipped)": median3x3}
    reference = unfold_median(x)
    for name, fn in methods.items():
        assert torch.equal(fn(x), reference), f"{name} differs from the baseline"
        fn(x)  # warm-up
    print(f"3x3 median of {args.batch}x1x{args.size}x{args.size} on {args.device} "
          f"({torch.get_num_threads()} threads), median of {args.repeats}:")
    base = None
    for name, fn in methods.items():
        seconds = median_seconds(fn, x, args.repeats)
        base = base or seconds
        print(f"  {name:28s} {1000 * seconds:8.1f} ms   {base / seconds:5.2f}x the baseline's speed")


if __name__ == "__main__":
    main()
