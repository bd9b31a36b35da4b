#!/usr/bin/env python
"""How much faster one adversarial-training step runs in bf16 autocast than in fp32, on this machine.

The cxr3 TRADES/MART recipes train in bf16 (``Recipe.precision``) because of this ratio; it depends on the CPU
(native bf16: AMX or avx512_bf16), so measure it where you train. One step = one inner-attack gradient on the
batch plus a training pass over the clean and attacked batch together (a TRADES step with one inner step),
on a ResNet-18 the size of cxr3's (1 channel, 3 classes). Prints the median seconds per step and the ratio.

    python scripts/bench_train_precision.py --size 160 --batch 64 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from medrdf_gui.modelzoo.architectures import build_network
from medrdf_gui.robust.backends import native_bf16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = build_network("resnet18", 3, 1).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 1, args.size, args.size, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (args.batch,), generator=gen)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            x_adv = x.clone().requires_grad_(True)
            net.eval()
            (grad,) = torch.autograd.grad(F.cross_entropy(net(x_adv).float(), y), x_adv)
            x_adv = (x + 8 / 255 * grad.sign()).clamp(0, 1).detach()
            net.train()
            loss = F.cross_entropy(net(torch.cat([x, x_adv])).float(), torch.cat([y, y]))
        opt.zero_grad()
        loss.backward()
        opt.step()

    seconds = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        step(bf16)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step(bf16)
            times.append(time.perf_counter() - start)
        seconds[name] = statistics.median(times)
    print(f"ResNet-18, 1×{args.size}², batch {args.batch}, {args.threads} thread(s), native bf16: {native_bf16()}")
    for name, value in seconds.items():
        print(f"  {name}: {value:.2f} s per step (median of {args.repeats})")
    print(f"  bf16 / fp32 speed-up: {seconds['fp32'] / seconds['bf16']:.2f}×")


if __name__ == "__main__":
    main()
