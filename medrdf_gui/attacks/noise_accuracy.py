"""``medrdf noise-accuracy``: the paper's TABLE VI, measured — the base model's own accuracy on noisy, denoised
copies of the test images, without MedRDF's vote or binomial test.

Why: TABLE VI of the paper shows that a base model which does not tolerate the noise (AG-Sononet-16: 28.2 % under
gaussian noise σ = 0.1 without a denoiser, i.e. one class for every image) leaves MedRDF's vote nothing to
recover; the same measurement tells whether a shipped model tolerates a noise × denoiser pair before it is used.

For every test image and every (noise, denoiser) setting, ``copies`` independent copies are drawn with the
engine's own noises and denoisers (robust/noise.py, robust/denoise.py) and classified one by one by the
classifier the vote would use (robust/backends.py). One record per (image, setting) is appended to
``records.jsonl`` as soon as it is known — the per-copy labels, nothing voted — plus a ``natural`` record with the
base model's label on the clean image (torch fp32, as the engine's base prediction). A rerun skips the records
already present; the copies of one record are drawn from a generator seeded by the image and the setting, so a
resumed run draws what a fresh one would.

Accuracy of a cell = the share of correct copies over all copies of all images (every image has the same number
of copies, so it is also the mean per-image share); the class-balanced form averages that share per class first
(derma7's always-"nv" classifier scores ~74 % plain, 1/7 balanced). The table functions below read the records
alone, so ``medrdf tables RECORDS --kind noise-accuracy`` rebuilds the table from the gzipped records in docs/.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from tqdm import tqdm

from ..modelzoo import LoadedModel
from ..robust.backends import select_classifier
from ..robust.denoise import make_denoiser
from ..robust.noise import make_noise
from ..robust.settings import DENOISERS, NOISES, RobustSettings
from .evaluate import balanced_files
from .tables import markdown as _markdown, read_jsonl

NATURAL = "natural"
DENOISER_SHORT = {"none": "None", "gaussian": "GS", "median": "MF"}
NOISE_TITLE = {"gaussian": "Gaussian", "salt-pepper": "S&P", "poisson": "Poisson", "resize-pad": "Resize-pad",
               "rotate": "Rotation"}
# The app's own default size of each denoiser (settings panel: DEFAULT_DENOISER_SIZE; `medrdf evaluate`'s
# --kernel and --smoothing-sigma): a 3×3 median window, gaussian smoothing of σ = 1 pixel.
DEFAULT_MEDIAN_WINDOW = 3
DEFAULT_SMOOTHING_SIGMA = 1.0


@dataclass(frozen=True)
class Setting:
    """One column of TABLE VI: a noise and a denoiser with its size (median window, or smoothing σ in pixels)."""

    noise: str
    denoiser: str
    kernel: float

    @property
    def key(self) -> str:
        return f"{self.noise}+{self.denoiser}"


def make_settings(noises: Iterable[str], denoisers: Iterable[str], median_window: int = DEFAULT_MEDIAN_WINDOW,
                  smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA) -> list[Setting]:
    """Every (noise, denoiser) pair, each denoiser with its own size; unknown names raise ValueError."""
    noises, denoisers = list(noises), list(denoisers)
    bad = [n for n in noises if n not in NOISES] + [d for d in denoisers if d not in DENOISERS]
    if bad:
        raise ValueError(f"Unknown noise/denoiser: {', '.join(bad)} (noises: {', '.join(NOISES)}; denoisers: "
                         f"{', '.join(DENOISERS)}).")
    if not noises or not denoisers:
        raise ValueError("Name at least one noise and one denoiser.")
    size = {"median": int(median_window), "gaussian": float(smoothing_sigma), "none": 0}
    return [Setting(n, d, size[d]) for n in dict.fromkeys(noises) for d in dict.fromkeys(denoisers)]


def _record_key(rec: dict) -> tuple[str, str, str, str]:
    return rec["model"], rec["data"], rec["file"], rec["setting"]


class NoiseAccuracy:
    """The measurement for one model on one split folder, appending to ``<out_dir>/records.jsonl``."""

    def __init__(self, model: LoadedModel, split_dir: Path, settings: list[Setting], sigma: float, copies: int,
                 out_dir: Path, limit: int | None = None, seed: int = 0, batch_size: int = 64,
                 backend: str = "auto", precision: str = "fp32") -> None:
        if copies < 1:
            raise ValueError("--copies must be at least 1.")
        if batch_size < 1:
            raise ValueError("The batch size must be at least 1.")
        for s in settings:  # the app's own checks of σ and of each denoiser's size, before anything runs
            RobustSettings(noise=s.noise, sigma=sigma, denoiser=s.denoiser, kernel=s.kernel, backend=backend,
                           precision=precision).validate()
        self.model, self.settings, self.sigma, self.copies = model, settings, float(sigma), int(copies)
        self.seed, self.batch_size, self.backend, self.precision = int(seed), int(batch_size), backend, precision
        self._noise = {s.key: make_noise(s.noise, sigma) for s in settings}
        self._denoise = {s.key: make_denoiser(s.denoiser, s.kernel) for s in settings}
        self.files = balanced_files(split_dir, model.classes, limit)
        if not self.files:
            raise ValueError(f"{split_dir} holds no images in its class folders ({', '.join(model.classes)}).")
        self.data = f"{split_dir.parent.name}/{split_dir.name}"  # e.g. cxr3/test: no machine paths in records
        self.out_dir = out_dir
        self.records_path = out_dir / "records.jsonl"
        self.done: dict[tuple[str, str, str, str], dict] = {}
        if self.records_path.is_file():
            for rec in load_records([self.records_path]):
                self.done[_record_key(rec)] = rec
            self._check_compatible()

    def _check_compatible(self) -> None:
        """Refuse to resume into records written with another σ, copy count, denoiser size or model file: their
        cells would mix two measurements."""
        wanted = {s.key: s for s in self.settings}
        for rec in self.done.values():
            if rec["model"] != self.model.name or rec["data"] != self.data:
                continue
            if rec.get("model_sha256") not in (None, self.model.sha256):
                raise ValueError(f"{self.records_path} holds records of another {self.model.name} (weights "
                                 f"{rec['model_sha256'][:12]}…); use another --out.")
            s = wanted.get(rec["setting"])
            if s is None:
                continue
            if (rec["sigma"] != self.sigma or rec["copies"] != self.copies or float(rec["kernel"]) != float(s.kernel)
                    or rec.get("seed") != self.seed):
                raise ValueError(f"{self.records_path} holds records of {rec['setting']} with σ = {rec['sigma']:g}, "
                                 f"{rec['copies']} copies, size {rec['kernel']:g}, seed {rec.get('seed')}; this run "
                                 f"asks for σ = {self.sigma:g}, {self.copies} copies, size {s.kernel:g}, seed "
                                 f"{self.seed}. Use another --out.")

    def _relative(self, path: Path) -> str:
        return f"{path.parent.name}/{path.name}"

    def _missing(self, path: Path) -> list[str]:
        keys = [NATURAL] + [s.key for s in self.settings]
        rel = self._relative(path)
        return [k for k in keys if (self.model.name, self.data, rel, k) not in self.done]

    def _generator(self, rel: str, setting: Setting, device: torch.device) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.seed + zlib.crc32(f"{rel}|{setting.key}".encode()))

    def _write(self, records: list[dict]) -> None:
        with self.records_path.open("a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
                self.done[_record_key(rec)] = rec

    def run(self, progress: bool = True) -> int:
        """Measure every missing (image, setting); returns the number of records written."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        module = self.model.module.eval()
        device = next(module.parameters()).device
        shape = (self.model.card.channels, *self.model.card.input_size)
        classifier = None
        todo = [(path, label, missing) for path, label in self.files if (missing := self._missing(path))]
        written = 0
        with tqdm(total=len(todo), desc=f"noise-accuracy {self.model.name}", unit="image", dynamic_ncols=True,
                  disable=not progress) as bar, torch.inference_mode():
            for path, label, missing in todo:
                rel = self._relative(path)
                x = self.model.input_tensor(path).to(device=device, dtype=torch.float32)
                base = {"model": self.model.name, "model_sha256": self.model.sha256, "data": self.data, "file": rel,
                        "label": label, "class": self.model.classes[label]}
                records = []
                if NATURAL in missing:
                    pred = int(module(x).argmax(1)[0])
                    records.append({**base, "setting": NATURAL, "noise": None, "sigma": 0.0, "denoiser": "none",
                                    "kernel": 0, "copies": 1, "seed": self.seed, "preds": [pred],
                                    "correct": int(pred == label)})
                chosen = [s for s in self.settings if s.key in missing]
                if chosen:
                    if classifier is None:
                        classifier = select_classifier(self.model, device, self.backend, self.precision, shape)
                    batch = x.expand(self.copies, *x.shape[1:])
                    copies = torch.cat([self._denoise[s.key](self._noise[s.key](batch, self._generator(rel, s, device)))
                                        for s in chosen])
                    labels = torch.cat([classifier(copies[i : i + self.batch_size]).argmax(1)
                                        for i in range(0, copies.shape[0], self.batch_size)]).tolist()
                    for j, s in enumerate(chosen):
                        preds = labels[j * self.copies : (j + 1) * self.copies]
                        records.append({**base, "setting": s.key, "noise": s.noise, "sigma": self.sigma,
                                        "denoiser": s.denoiser, "kernel": s.kernel, "copies": self.copies,
                                        "seed": self.seed, "classifier": classifier.label, "preds": preds,
                                        "correct": sum(p == label for p in preds)})
                self._write(records)
                written += len(records)
                bar.update(1)
        return written

    def records(self) -> list[dict]:
        """This run's records (its model, split, files and settings), for the table."""
        files = {self._relative(p) for p, _ in self.files}
        keys = {NATURAL} | {s.key for s in self.settings}
        return [r for r in self.done.values() if r["model"] == self.model.name and r["data"] == self.data
                and r["file"] in files and r["setting"] in keys]


# Tables: pure functions of the records --------------------------------------------------------------------------

def load_records(paths: Iterable[Path]) -> list[dict]:
    """Records from ``records.jsonl`` files (``.gz`` read as gzip); a later record of the same (model, split,
    image, setting) replaces an earlier one. A file of other records (e.g. `medrdf evaluate`'s) raises
    ValueError."""
    merged: dict[tuple[str, str, str, str], dict] = {}
    for path, number, rec in read_jsonl(paths):
        if not all(k in rec for k in ("model", "data", "file", "setting", "label", "copies", "correct")):
            raise ValueError(f"{path} line {number} is not a `medrdf noise-accuracy` record")
        merged[_record_key(rec)] = rec
    return list(merged.values())


def column_order(records: list[dict]) -> list[str]:
    """Natural first, then the paper's layout: per noise (gaussian, salt-and-pepper, poisson, …), the denoisers
    none, GS, MF — only the settings the records hold."""
    seen = {r["setting"] for r in records}
    keys = [f"{n}+{d}" for n in NOISES for d in DENOISERS]
    return ([NATURAL] if NATURAL in seen else []) + [k for k in keys if k in seen]


def column_header(key: str) -> str:
    if key == NATURAL:
        return "Natural"
    noise, denoiser = key.split("+", 1)
    return f"{NOISE_TITLE.get(noise, noise)}: {DENOISER_SHORT.get(denoiser, denoiser)}"


def accuracy(records: list[dict], balanced: bool = False) -> float:
    """Share (%) of correct copies over all copies; ``balanced``: the mean over classes of each class's share."""
    if not records:
        return float("nan")
    if not balanced:
        return 100.0 * sum(r["correct"] for r in records) / sum(r["copies"] for r in records)
    per_label: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        per_label[r["label"]][0] += r["correct"]
        per_label[r["label"]][1] += r["copies"]
    return 100.0 * sum(c / n for c, n in per_label.values()) / len(per_label)


def table(records: list[dict], balanced: bool = False) -> tuple[list[str], list[list[str]]]:
    """TABLE VI: one row per (model, split), the image count, then natural and every noise × denoiser cell. A cell
    holding fewer images than the row's natural column (a run stopped part-way) shows its image count."""
    columns = column_order(records)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["model"], r["data"])].append(r)
    multi_split = len({data for _, data in groups}) > 1
    header = ["Model", "Images"] + [column_header(k) for k in columns]
    rows = []
    for (model, data), mine in groups.items():
        by_setting: dict[str, list[dict]] = defaultdict(list)
        for r in mine:
            by_setting[r["setting"]].append(r)
        images = len({r["file"] for r in mine})
        cells = [f"{model} ({data})" if multi_split else model, str(images)]
        for key in columns:
            recs = by_setting.get(key, [])
            if not recs:
                cells.append("—")
                continue
            text = f"{accuracy(recs, balanced):.1f}"
            if len(recs) != images:
                text += f" ({len(recs)})"
            cells.append(text)
        rows.append(cells)
    return header, rows


def describe(records: list[dict], balanced: bool = False) -> str:
    """The caption under the table: what a cell is, and the σ, copies and denoiser sizes the records hold."""
    noisy = [r for r in records if r["setting"] != NATURAL]
    sigmas = sorted({r["sigma"] for r in noisy})
    copies = sorted({r["copies"] for r in noisy})
    sizes = {d: sorted({float(r["kernel"]) for r in noisy if r["denoiser"] == d}) for d in ("median", "gaussian")}
    data = sorted({r["data"] for r in records})
    what = ("Class-balanced accuracy in % (mean over classes of the share of correct copies)" if balanced else
            "Accuracy in % (share of correct copies over all images)")
    parts = [f"{what} of the base model, without voting, on {', '.join(data)}"]
    if sigmas:
        parts.append(f"noise σ = {', '.join(f'{s:g}' for s in sigmas)}")
    if copies:
        parts.append(f"{', '.join(str(c) for c in copies)} independent copies per image and setting")
    if sizes["gaussian"]:
        parts.append(f"GS: gaussian smoothing σ = {', '.join(f'{k:g}' for k in sizes['gaussian'])} px")
    if sizes["median"]:
        parts.append(f"MF: {', '.join(f'{int(k)}×{int(k)}' for k in sizes['median'])} median filter")
    parts.append("Natural: the clean image, one pass")
    return "; ".join(parts) + "."


def markdown(records: list[dict], balanced: bool = False) -> str:
    return _markdown(*table(records, balanced)) + "\n\n" + describe(records, balanced) + "\n"
