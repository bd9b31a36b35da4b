"""Resumable training of a recipe, and export of the best epoch as ``<name>.safetensors`` + card.

Checkpoints (model, optimiser, scheduler, RNG state) go to the user cache after every epoch, never into the
repository; re-running the same command continues from the last finished epoch. A JSON-lines log records
every epoch. Model selection uses the validation split only; the test split is touched once, at export.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from .. import paths
from ..modelzoo.architectures import NormalizedClassifier, build_network, gradcam_layer
from ..modelzoo.card import ModelCard
from ..modelzoo.registry import sha256_file
from .adversarial import adversarial_loss, balanced_subset, craft, robust_accuracy
from .augment import augment
from .data import ImageSet, load_image_set
from .metrics import classification_report, predict_logits
from .recipes import Recipe

log = logging.getLogger(__name__)


def _manifest_hash(data_root: Path) -> str | None:
    manifest = data_root / "manifest.csv"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None


def _selection_score(report: dict[str, Any], metric: str, robust: float | None = None) -> float:
    """The validation score that picks the exported epoch; with ``robust`` (held-out PGD accuracy of an
    adversarially trained recipe) it is the mean of the natural score and the robust accuracy, so that neither
    a collapse of robustness (catastrophic overfitting) nor of natural accuracy can win."""
    if metric == "acc_bacc":
        natural = 0.5 * (report["accuracy"] + (report["balanced_accuracy"] or 0.0))
    else:
        natural = float(report["accuracy"])
    return natural if robust is None else 0.5 * (natural + robust)


def hardware_description(device: torch.device) -> str:
    """What the training ran on, for the card (TABLE XI reports training hours, which mean nothing without it)."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    from ..robust.device import cpu_model

    return f"{cpu_model()}, {torch.get_num_threads()} torch threads"


class _Fp32Logits(nn.Module):
    """``module`` with its logits cast to fp32; train()/eval() reach the wrapped module."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).float()


class Trainer:
    def __init__(self, recipe: Recipe, data_dir: Path | None = None, run_dir: Path | None = None,
                 limit_per_class: int | None = None, threads: int | None = None) -> None:
        self.recipe = recipe
        self.data_root = (data_dir or paths.data_dir()) / recipe.dataset
        self.run_dir = run_dir or paths.cache_dir() / "runs" / recipe.name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.limit = limit_per_class
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        size = (recipe.input_size, recipe.input_size)
        t0 = time.perf_counter()
        self.train_set = load_image_set(self.data_root, "train", recipe.channels, size, limit=limit_per_class)
        self.val_set = load_image_set(self.data_root, "val", recipe.channels, size, self.train_set.classes, limit=limit_per_class)
        log.info("loaded %d train / %d val images in %.1f s", len(self.train_set), len(self.val_set), time.perf_counter() - t0)
        torch.manual_seed(recipe.seed)
        net = build_network(recipe.architecture, len(self.train_set.classes), recipe.channels, **recipe.arch_options)
        self.module = NormalizedClassifier(net, list(recipe.mean), list(recipe.std)).to(self.device)
        self.module = self.module.to(memory_format=torch.channels_last)
        # What the training passes call: the module with fp32 logits, so that losses, softmax and KL are computed
        # in fp32 when the convolutions run in bf16.
        self.forward = _Fp32Logits(self.module)
        if recipe.precision == "bf16" and self.device.type == "cpu":
            from ..robust.backends import native_bf16

            if not native_bf16():
                log.warning("%s trains in bf16, which this CPU emulates: slower than fp32, same arithmetic",
                            recipe.name)
        self.adversarial = recipe.adversarial
        if self.adversarial and self.adversarial.init_from:
            self._initialise_from(self.adversarial.init_from)
        self.steps_per_epoch = max(1, len(self.train_set) // recipe.batch_size)
        total_steps = self.steps_per_epoch * recipe.epochs
        if recipe.optimizer == "sgd-cosine":
            self.optimizer = torch.optim.SGD(self.module.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True,
                                             weight_decay=recipe.weight_decay)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
        elif recipe.optimizer == "adamw-onecycle":
            self.optimizer = torch.optim.AdamW(self.module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=recipe.lr, total_steps=total_steps, pct_start=0.3
            )
        else:
            raise ValueError(f"unknown optimizer {recipe.optimizer!r}")
        if self.adversarial:
            index = balanced_subset(self.val_set.labels, self.adversarial.val_images, recipe.seed)
            self.robust_val = (self.val_set.images[index], self.val_set.labels[index])
        counts = torch.bincount(self.train_set.labels, minlength=len(self.train_set.classes)).float()
        weight = (counts / counts.sum()).pow(-recipe.class_weight_power)
        self.criterion = nn.CrossEntropyLoss(weight=(weight / weight.mean()).to(self.device), label_smoothing=recipe.label_smoothing)
        self.generator = torch.Generator(device=self.device).manual_seed(recipe.seed)
        self.epoch = 0
        self.best_score = -1.0
        self.train_seconds = 0.0  # wall time of finished epochs, summed over resumes
        self.hardware: list[str] = []  # what each training session ran on (an export-only run adds nothing)
        self._resume()

    def _initialise_from(self, name: str) -> None:
        """Start from a shipped model's verified weights (fine-tuning), checking it is the same network."""
        from ..modelzoo.registry import read_verified_weights, resolve_card

        card = resolve_card(name)
        if card.architecture != self.recipe.architecture or card.classes != self.train_set.classes:
            raise ValueError(f"{name} is a {card.architecture} over {card.classes}; the recipe needs "
                             f"{self.recipe.architecture} over {self.train_set.classes}")
        self.module.net.load_state_dict({k: v.float() for k, v in read_verified_weights(card).items()})
        self.init_sha256 = card.sha256
        log.info("initialised from %s (sha256 %s)", name, card.sha256[:12])

    # -- checkpoints ---------------------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.ckpt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.ckpt"

    def _resume(self) -> None:
        if not self.last_path.is_file():
            return
        state = torch.load(self.last_path, map_location=self.device, weights_only=True)
        self.module.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"].cpu() if self.device.type == "cpu" else state["generator"])
        self.epoch = int(state["epoch"])
        self.best_score = float(state["best_score"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.hardware = list(state.get("hardware", []))
        log.info("resumed %s at epoch %d (best val score %.4f)", self.recipe.name, self.epoch, self.best_score)

    def _save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({
            "model": self.module.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "generator": self.generator.get_state(),
            "epoch": self.epoch, "best_score": self.best_score, "train_seconds": self.train_seconds,
            "hardware": self.hardware,
        }, tmp)
        tmp.replace(path)  # atomic: an interrupted save never corrupts the last good checkpoint

    def _log(self, record: dict[str, Any]) -> None:
        with (self.run_dir / "log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    # -- training ------------------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast for the recipe's training passes (attack included), a no-op for fp32."""
        if self.recipe.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_epoch(self) -> dict[str, float]:
        recipe = self.recipe
        res = recipe.resolution_at(self.epoch)
        self.module.train()
        order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(recipe.seed + self.epoch))
        total_loss, correct, seen = 0.0, 0, 0
        eps = 0.0
        t0 = time.perf_counter()
        for step in range(self.steps_per_epoch):
            idx = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            x, y = self.train_set.batch(idx)
            x, y = x.to(self.device), y.to(self.device)
            x = augment(x, res, recipe.augment, self.generator).contiguous(memory_format=torch.channels_last)
            with self._autocast():
                if self.adversarial:
                    cfg = self.adversarial
                    eps = cfg.epsilon_at(self.epoch * self.steps_per_epoch + step,
                                         self.steps_per_epoch * recipe.epochs)
                    x_adv = craft(self.forward, x, y, cfg, eps, self.generator)
                    loss, logits = adversarial_loss(self.forward, x, x_adv.contiguous(memory_format=torch.channels_last),
                                                    y, cfg, self.criterion)
                else:
                    logits = self.forward(x)
                    loss = self.criterion(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += float(loss.detach()) * y.numel()
            correct += int((logits.argmax(1) == y).sum())
            seen += y.numel()
        stats = {"loss": total_loss / seen, "train_acc": correct / seen, "resolution": res,
                 "images_per_s": seen / (time.perf_counter() - t0)}
        if self.adversarial:
            stats["epsilon"] = eps  # train_acc is then on the adversarial batches
        return stats

    def evaluate_robust(self) -> tuple[float, float]:
        """(natural, PGD) accuracy on the fixed class-balanced val subset at the full ε."""
        cfg = self.adversarial
        assert cfg is not None
        images, labels = self.robust_val
        return robust_accuracy(self.module, images.to(self.device), labels.to(self.device), cfg.epsilon,
                               cfg.val_steps, seed=self.recipe.seed)

    def evaluate(self, images: ImageSet) -> dict[str, Any]:
        logits = predict_logits(self.module, images.images.to(self.device)).cpu()
        return classification_report(logits, images.labels, images.classes)

    def run(self) -> None:
        if self.epoch < self.recipe.epochs:
            here = hardware_description(self.device)
            if here not in self.hardware:
                self.hardware.append(here)
        while self.epoch < self.recipe.epochs:
            t0 = time.perf_counter()
            stats = self.train_epoch()
            report = self.evaluate(self.val_set)
            robust = None
            if self.adversarial:
                _, robust = self.evaluate_robust()
                stats["val_pgd_acc"] = robust
            score = _selection_score(report, self.recipe.selection_metric, robust)
            self.epoch += 1
            self.train_seconds += time.perf_counter() - t0
            improved = score > self.best_score
            if improved:
                self.best_score = score
            self._save(self.last_path)
            if improved:
                self._save(self.best_path)
            record = {"epoch": self.epoch, **stats, "val_acc": report["accuracy"],
                      "val_bacc": report["balanced_accuracy"], "val_score": score, "best": improved,
                      "seconds": round(time.perf_counter() - t0, 1), "time": dt.datetime.now().isoformat(timespec="seconds")}
            self._log(record)
            log.info("epoch %d/%d %s", self.epoch, self.recipe.epochs, json.dumps(record))

    # -- export --------------------------------------------------------------------------------------------------
    def _description(self) -> str:
        r = self.recipe
        if not self.adversarial:
            return f"{r.architecture} trained from scratch on {r.dataset} (research use only)."
        cfg = self.adversarial
        start = f"fine-tuned from {cfg.init_from}" if cfg.init_from else "trained from scratch"
        return (f"{r.architecture} {start} on {r.dataset} with {cfg.method.upper()} adversarial training at "
                f"ε = {cfg.epsilon * 255:g}/255 (L∞, pixels in [0, 1]), {r.input_size} px input (research use only).")

    def _adversarial_record(self, robust_val: tuple[float, float] | None) -> dict[str, Any]:
        if not self.adversarial or robust_val is None:
            return {}
        cfg = self.adversarial
        return {"init_sha256": getattr(self, "init_sha256", None), "val_robust": {
            "images": int(self.robust_val[1].numel()), "attack": f"pgd-{cfg.val_steps}",
            "epsilon": cfg.epsilon, "natural": robust_val[0], "pgd": robust_val[1]}}

    def export(self, out_dir: Path, command: str, fp16: bool = True, name: str | None = None) -> ModelCard:
        """Evaluate the best checkpoint on val and test and write the safetensors + card into ``out_dir``, as
        ``name`` (default: the recipe's name; the card's training record names the recipe either way)."""
        name = name or self.recipe.name
        state = torch.load(self.best_path, map_location=self.device, weights_only=True)
        self.module.net.load_state_dict(state["model"])
        size = (self.recipe.input_size, self.recipe.input_size)
        test_set = load_image_set(self.data_root, "test", self.recipe.channels, size, self.train_set.classes, limit=self.limit)
        val_report, test_report = self.evaluate(self.val_set), self.evaluate(test_set)
        robust_val = self.evaluate_robust() if self.adversarial else None
        weights = {k: v.detach().contiguous().cpu() for k, v in self.module.net.state_dict().items()}
        storage = "float32"
        if fp16:
            half = {k: (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
            self.module.net.load_state_dict({k: v.float() for k, v in half.items()})
            half_test = self.evaluate(test_set)
            half_val = self.evaluate(self.val_set)
            if half_test["accuracy"] == test_report["accuracy"] and half_val["accuracy"] == val_report["accuracy"]:
                weights, storage = half, "float16"
                test_report, val_report = half_test, half_val
            else:
                self.module.net.load_state_dict({k: v.float() for k, v in weights.items()})
        out_dir.mkdir(parents=True, exist_ok=True)
        weights_path = out_dir / f"{name}.safetensors"
        save_file(weights, str(weights_path), metadata={"model": name, "storage": storage})
        card = ModelCard(
            name=name,
            architecture=self.recipe.architecture,
            classes=list(self.train_set.classes),
            input_size=size,
            channels=self.recipe.channels,
            mean=list(self.recipe.mean),
            std=list(self.recipe.std),
            weights=weights_path.name,
            sha256=sha256_file(weights_path),
            display_names=dict(self.recipe.display_names),
            arch_options=dict(self.recipe.arch_options),
            target_layer=gradcam_layer(self.recipe.architecture),
            description=self._description(),
            training={
                "recipe": self.recipe.describe(), "command": command, "seed": self.recipe.seed,
                "epochs": self.epoch, "best_val_score": self.best_score, "storage": storage,
                "data": str(self.recipe.dataset), "data_manifest_sha256": _manifest_hash(self.data_root),
                "train_images": len(self.train_set), "device": str(self.device), "torch": torch.__version__,
                "hardware": "; ".join(self.hardware) or hardware_description(self.device), "wall_seconds": round(self.train_seconds, 1), "wall_hours": round(self.train_seconds / 3600, 3),
                **self._adversarial_record(robust_val),
            },
            metrics={"val": val_report, "test": test_report},
            created=dt.date.today().isoformat(),
        )
        card.save(out_dir / f"{name}.json")
        return card
