"""``medrdf evaluate``: the paper's TABLE III layout, measured.

Rows: the base model, then MedRDF for each (noise, denoiser) pair; columns: natural accuracy and each attack.
White-box and black-box attacks target the base model (the paper's setting) and their adversarial image is shared
by all rows; adaptive attacks target each MedRDF configuration separately. A MedRDF prediction counts as correct
only when it does not abstain and names the true class; the abstain rate is reported beside it.

Every (image, attack, row) outcome is appended to ``records.jsonl`` as soon as it is known, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from tqdm import tqdm

from ..modelzoo import LoadedModel
from ..robust import RobustSettings, robust_predict
from ..training.data import IMAGE_SUFFIXES
from . import tables
from .registry import AttackSpec

BASE_ROW = "Base model"
# Xie et al.'s random resizing and padding as a row: the same vote and test as MedRDF over its random copies. Its
# records also carry ``p_label``, the share of copies naming the true class, whose mean over images estimates
# Xie's own single-draw accuracy.
RANDOM_RP_ROW = "Random R-P (vote)"
WORST_CASE = "Worst case"


@dataclass(frozen=True)
class Defence:
    """One MedRDF row: a noise and a denoiser with its size (median window, or smoothing σ in pixels), and the
    noise level when the row sets its own (the paper's TABLE I puts several σ side by side; ``None``: the run's
    σ, and the row keeps the name it had before rows could differ in σ)."""

    noise: str
    denoiser: str
    kernel: float = 3
    sigma: float | None = None

    @property
    def row(self) -> str:
        if (self.noise, self.denoiser) == ("resize-pad", "none") and self.sigma is None:
            return RANDOM_RP_ROW
        short = {"none": "none", "gaussian": "GS", "median": "MF"}[self.denoiser]
        level = "" if self.sigma is None else f" σ {self.sigma:g}"
        return f"MedRDF {self.noise}{level} + {short}"

    def settings_for(self, base: RobustSettings) -> RobustSettings:
        """``base`` with this row's noise, denoiser, size and (when it sets one) noise level: what its vote runs with
        and what its adaptive attack targets."""
        return base.with_(noise=self.noise, denoiser=self.denoiser, kernel=self.kernel,
                          sigma=base.sigma if self.sigma is None else self.sigma)


def balanced_files(split_dir: Path, classes: list[str], limit: int | None) -> list[tuple[Path, int]]:
    """The first ⌈limit/K⌉ files of each class in sorted order, interleaved (a stable, class-balanced subset)."""
    per_class = [sorted(p for p in (split_dir / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for c in classes]
    take = None if limit is None else -(-limit // len(classes))
    chosen: list[tuple[Path, int]] = []
    for i in range(max(len(f) for f in per_class)):
        for label, files in enumerate(per_class):
            if i < len(files) and (take is None or i < take):
                chosen.append((files[i], label))
    return chosen[:limit] if limit else chosen


class Evaluation:
    def __init__(self, model: LoadedModel, split_dir: Path, attacks: list[AttackSpec], defences: list[Defence],
                 settings: RobustSettings, eps: float, out_dir: Path, limit: int | None = None, seed: int = 0) -> None:
        self.model, self.attacks, self.defences = model, attacks, defences
        self.settings, self.eps, self.seed = settings, eps, seed
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.records_path = out_dir / "records.jsonl"
        self.files = balanced_files(split_dir, model.classes, limit)
        self.split_name = f"{split_dir.parent.name}/{split_dir.name}"  # e.g. cxr3/test: no machine paths in cards
        self.done: dict[tuple[str, str, str], dict] = {}
        self._check_run(out_dir / "run.json")
        if self.records_path.is_file():
            for line in self.records_path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.done[(rec["file"], rec["attack"], rec["row"])] = rec

    def _identity(self) -> dict:
        """What the records depend on beyond the file, attack and row they are keyed by: resuming into records of
        another model, budget or vote would mix two experiments in one table without a trace."""
        s = self.settings
        own = sorted({d.sigma for d in self.defences if d.sigma is not None})
        return {"model": self.model.name, "weights_sha256": self.model.sha256, "data": self.split_name,
                "epsilon": round(self.eps * 255, 6), "sigma": own or s.sigma, "kernel": s.kernel, "n": s.n,
                "sampling": s.sampling, "alpha": s.alpha, "seed": self.seed}

    def _check_run(self, path: Path) -> None:
        """Write the run's identity beside its records, or refuse (ValueError) to resume records made by another
        run. A folder from before run.json existed gets the present identity."""
        identity = self._identity()
        if path.is_file():
            recorded = json.loads(path.read_text())
            differ = [f"{k} {recorded.get(k)!r} there, {v!r} now" for k, v in identity.items()
                      if k in recorded and recorded[k] != v]
            if differ:
                raise ValueError(f"{self.out_dir} holds the records of another run ({'; '.join(differ)}): "
                                 "choose another --out, or delete the folder to start again.")
            return
        path.write_text(json.dumps(identity, indent=1) + "\n")

    def _record(self, rec: dict) -> None:
        self.done[(rec["file"], rec["attack"], rec["row"])] = rec
        with self.records_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")

    def _rows_for(self, attack: AttackSpec) -> list[str]:
        rows = [d.row for d in self.defences]
        return rows if attack.adaptive else [BASE_ROW, *rows]

    def _row_settings(self, defence: Defence) -> RobustSettings:
        """The settings of one MedRDF row: what its adaptive attack targets and what its vote runs with."""
        return defence.settings_for(self.settings)

    def sigma_of(self, defence: Defence) -> float:
        return self._row_settings(defence).sigma

    def _record_defence(self, path: Path, label: int, attack: AttackSpec, defence: Defence, x_adv: torch.Tensor,
                        linf: float, seed: int) -> None:
        """Run MedRDF's vote on ``x_adv`` for one row and record whether it names the true class."""
        r = robust_predict(self.model, x_adv, self._row_settings(defence).with_(seed=seed))
        # everything the flag tables re-tabulate (TABLE IX, silent flips, alerts as detectors): the vote's label,
        # RM, the paper's rule, the final flag with its alert codes, and the base model on the same image
        self._record({"file": path.name, "label": label, "attack": attack.name, "row": defence.row,
                      "correct": (not r.abstained) and r.label == label, "abstained": r.abstained, "linf": linf,
                      "kernel": defence.kernel, "sigma": self.sigma_of(defence), "n_used": r.n_used, "pred": r.label, "rm": r.rm,
                      "rm_verdict": r.rm_verdict, "verdict": r.verdict, "alerts": [a.code for a in r.alerts],
                      "base_label": r.base_label,
                      "p_label": r.counts.get(self.model.classes[label], 0) / max(r.n_used, 1),
                      # the out-of-scope score of the image the vote saw (attack interplay, docs/scope.md)
                      "ood_score": r.ood_score, "squeeze_score": r.squeeze_score})

    def _attack_generator(self, chunk: list[tuple[Path, int]], attack: AttackSpec, device: torch.device,
                          defence: Defence | None = None) -> torch.Generator:
        """One generator per (chunk, attack) and, for adaptive attacks, per row: seeded by the chunk's first file
        (chunks are fixed by the file list) and the row, so a resumed run that skips finished rows draws what a
        fresh one would. Transferred attacks at one image per chunk draw what earlier versions drew."""
        key = f"{chunk[0][0].name}|{attack.name}" + (f"|{defence.row}" if defence is not None else "")
        return torch.Generator(device=device).manual_seed(self.seed + zlib.crc32(key.encode()))

    def _vote_seed(self, path: Path, attack: AttackSpec) -> int:
        return self.seed + zlib.crc32(f"{path.name}|{attack.name}|vote".encode())  # per image: stable across resumes

    def _missing(self, path: Path, attack: AttackSpec) -> bool:
        return any((path.name, attack.name, row) not in self.done for row in self._rows_for(attack))

    def run(self, attack_batch: int = 1) -> None:
        """Attack ``attack_batch`` images at a time (a GPU runs a batch of 32 about as fast as one image; on a CPU
        batching gains nothing), then vote on each adversarial image row by row."""
        if attack_batch < 1:
            raise ValueError("attack_batch must be at least 1")
        module = self.model.module
        device = next(module.parameters()).device
        chunks = [self.files[i : i + attack_batch] for i in range(0, len(self.files), attack_batch)]
        todo = [(chunk, a) for chunk in chunks for a in self.attacks if any(self._missing(f, a) for f, _ in chunk)]
        bar = tqdm(total=sum(len(chunk) for chunk, _ in todo), desc="evaluate", unit="case", dynamic_ncols=True)
        loaded: tuple[list, torch.Tensor, torch.Tensor] | None = None  # the chunk in hand: read once, not per attack
        with bar:
            for chunk, attack in todo:
                if loaded is None or loaded[0] is not chunk:
                    loaded = (chunk, torch.cat([self.model.input_tensor(path) for path, _ in chunk]).to(device),
                              torch.tensor([label for _, label in chunk], device=device))
                _, x, y = loaded
                if attack.adaptive:
                    for defence in self.defences:
                        if all((path.name, attack.name, defence.row) in self.done for path, _ in chunk):
                            continue
                        gen = self._attack_generator(chunk, attack, device, defence)
                        target = self.model if attack.knows_detectors else module
                        x_adv = attack.fn(target, x, y, self.eps, gen, self._row_settings(defence))
                        linf = (x_adv - x).abs().flatten(1).amax(dim=1).tolist()
                        for i, (path, label) in enumerate(chunk):
                            if (path.name, attack.name, defence.row) not in self.done:
                                self._record_defence(path, label, attack, defence, x_adv[i : i + 1], linf[i],
                                                     self._vote_seed(path, attack))
                    bar.update(len(chunk))
                    continue
                target = self.model if attack.knows_detectors else module
                x_adv = attack.fn(target, x, y, self.eps, self._attack_generator(chunk, attack, device), self.settings)
                linf = (x_adv - x).abs().flatten(1).amax(dim=1).tolist()
                with torch.inference_mode():
                    preds = module(x_adv).argmax(1).tolist()
                for i, (path, label) in enumerate(chunk):
                    if (path.name, attack.name, BASE_ROW) not in self.done:
                        self._record({"file": path.name, "label": label, "attack": attack.name, "row": BASE_ROW,
                                      "correct": preds[i] == label, "abstained": False, "linf": linf[i],
                                      "pred": preds[i]})
                    for defence in self.defences:
                        if (path.name, attack.name, defence.row) not in self.done:
                            self._record_defence(path, label, attack, defence, x_adv[i : i + 1], linf[i],
                                                 self._vote_seed(path, attack))
                    bar.update(1)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Accuracy per (row, attack), abstain rate in brackets for MedRDF rows, and a last column "worst case":
        the share of images the row gets right under every one of its attacks (natural included), over the
        images whose row is complete. It is the figure a per-image adaptive adversary, free to pick the attack,
        would leave standing."""
        columns = [a.header(len(self.model.classes)) for a in self.attacks]
        header = ["Model"] + columns + ([WORST_CASE] if len(self.attacks) > 1 else [])
        files = {f.name for f, _ in self.files}
        rows = []
        for row in [BASE_ROW] + [d.row for d in self.defences]:
            cells = [row]
            for attack in self.attacks:
                recs = [r for (f, a, rw), r in self.done.items() if a == attack.name and rw == row and f in files]
                if not recs:
                    cells.append("—")
                    continue
                acc = 100 * sum(r["correct"] for r in recs) / len(recs)
                text = f"{acc:.1f}"
                if row != BASE_ROW:
                    text += f" ({100 * sum(r['abstained'] for r in recs) / len(recs):.1f})"
                cells.append(text)
            if len(self.attacks) > 1:
                cells.append(self._worst_case(row, files))
            rows.append(cells)
        return header, rows

    def _row_attacks(self, row: str) -> list[str]:
        return [a.name for a in self.attacks if row != BASE_ROW or not a.adaptive]

    def _row_records(self, row: str, files: Iterable[str]) -> list[dict]:
        """The records of ``row`` for ``files`` (what ``tables.worst_case`` tabulates, as ``medrdf tables`` does)."""
        wanted = set(files)
        return [r for (f, _, rw), r in self.done.items() if rw == row and f in wanted]

    def _worst_case(self, row: str, files: set[str]) -> str:
        worst, images = tables.worst_case(self._row_records(row, files), row, self._row_attacks(row))
        return f"{worst:.1f}" if images else "—"

    def robustness_entries(self) -> list[dict]:
        """Per row, the worst-case accuracy over the images complete for all its attacks (and its class-balanced
        form): what a model card's ``robustness`` records and the protection notice quotes. Empty when the run
        attacked nothing."""
        if not any(a.name != "natural" for a in self.attacks):
            return []
        entries = []
        for row, defence in [(BASE_ROW, None), *[(d.row, d) for d in self.defences]]:
            attacks = self._row_attacks(row)
            records = self._row_records(row, (f.name for f, _ in self.files))
            worst, images = tables.worst_case(records, row, attacks)
            if not images:
                continue
            # natural accuracy over the same images: their natural records, tabulated like a one-attack worst case
            complete = tables.complete_images(records, row, attacks)
            natural, _ = tables.worst_case([v["natural"] for v in complete.values()], row, ["natural"])
            balanced, _ = tables.worst_case(records, row, attacks, balanced=True)
            entry = {"row": "base" if defence is None else "medrdf", "epsilon": self.eps,
                     "worst_case_accuracy": round(worst, 1), "natural_accuracy": round(natural, 1),
                     "balanced_worst_case_accuracy": round(balanced, 1),
                     "attacks": [a for a in attacks if a != "natural"], "images": images,
                     "data": self.split_name}
            if defence is not None:
                entry.update({"noise": defence.noise, "sigma": self.sigma_of(defence), "denoiser": defence.denoiser,
                              "kernel": defence.kernel, "n": self.settings.n, "sampling": self.settings.sampling,
                              "alpha": self.settings.alpha})
            entries.append(entry)
        return entries

    def defence_entries(self) -> list[dict]:
        """The natural accuracy each MedRDF row keeps, against the base model on the same images, for the rows
        whose natural column is complete: what a model card's ``defences`` records (robust/validation.py)."""
        files = [f.name for f, _ in self.files]
        base = [self.done.get((f, "natural", BASE_ROW)) for f in files]
        if not files or any(r is None for r in base):
            return []
        entries = []
        for defence in self.defences:
            recs = [self.done.get((f, "natural", defence.row)) for f in files]
            if any(r is None for r in recs):
                continue
            entries.append({
                "noise": defence.noise, "sigma": self.sigma_of(defence), "denoiser": defence.denoiser,
                "kernel": defence.kernel, "natural_accuracy": round(100 * sum(r["correct"] for r in recs) / len(recs), 1),
                "abstain_rate": round(100 * sum(r["abstained"] for r in recs) / len(recs), 1),
                "base_accuracy": round(100 * sum(r["correct"] for r in base) / len(base), 1),
                "images": len(files), "n": self.settings.n, "sampling": self.settings.sampling,
                "alpha": self.settings.alpha, "data": self.split_name,
            })
        return entries

    def _sampling_text(self) -> str:
        n = self.settings.n
        if self.settings.sampling != "adaptive":
            return f"n = {n:,}"
        used = [r["n_used"] for r in self.done.values() if r["row"] != BASE_ROW and "n_used" in r]
        mean = f"; {sum(used) / len(used):,.0f} copies per vote on average" if used else ""
        return f"n ≤ {n:,} (adaptive: each vote stops once its verdict is settled{mean})"

    def _sigma_text(self) -> str:
        if all(d.sigma is None for d in self.defences):
            return f"σ = {self.settings.sigma}"
        return "σ as each row names it"

    def _denoiser_sizes(self) -> str:
        sizes = {d.denoiser: d.kernel for d in self.defences}
        text = ""
        if "median" in sizes:
            text += f", MF window {sizes['median']:g}×{sizes['median']:g}"
        if "gaussian" in sizes:
            text += f", GS σ = {sizes['gaussian']:g} px"
        return text

    def write_tables(self) -> tuple[Path, Path]:
        header, rows = self.table()
        csv_path, md_path = self.out_dir / "table.csv", self.out_dir / "table.md"
        with csv_path.open("w", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        n_images = len(self.files)
        worst = "; worst case: right under every attack of the row" if WORST_CASE in header else ""
        lines += ["", f"Accuracy in % on {n_images} images (abstain rate in % in brackets for MedRDF rows{worst}); "
                      f"ε = {self.eps * 255:.0f}/255, {self._sigma_text()}, {self._sampling_text()}, "
                      f"α = {self.settings.alpha}{self._denoiser_sizes()}, model {self.model.name} ({self.model.sha256[:12]}…)."]
        md_path.write_text("\n".join(lines) + "\n")
        return csv_path, md_path


def parse_defences(noises: Iterable[str], denoisers: Iterable[str], median_window: int = 3,
                   smoothing_sigma: float = 1.0, pairs: Iterable[tuple[str, str]] | None = None,
                   sigmas: Iterable[float] | None = None) -> list[Defence]:
    """Every (noise, denoiser) pair, or exactly ``pairs`` when given, at each of ``sigmas`` when given (rows named
    with their σ; otherwise the run's σ); each denoiser gets its own size, since one number cannot mean both."""
    size = {"median": median_window, "gaussian": smoothing_sigma, "none": 0}
    chosen = list(pairs) if pairs is not None else [(n, d) for n in noises for d in denoisers]
    levels: list[float | None] = [None] if sigmas is None else list(dict.fromkeys(float(v) for v in sigmas))
    return [Defence(n, d, size[d], level) for level in levels for n, d in chosen]
