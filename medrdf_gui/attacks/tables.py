"""Tables rebuilt from raw evaluation records: the flag a reader sees, measured (TABLE IX, silent flips, alerts as
detectors).

``medrdf evaluate`` appends one record per (image, attack, row) with the vote's label, RM, the paper's RM rule
(``rm_verdict``), the final flag (``verdict``) and the alert codes. Everything here is a pure function of those
records, so each table in the docs is rebuilt by ``medrdf tables`` from the records committed beside it.

Definitions:
* **C.** correct: the row names the true class (an abstention is not correct).
* **R.** the paper's "robust evaluation", RM ≥ threshold (``rm_verdict == "accept"``); the app's own flag adds the
  alerts (``verdict == "accept"``). Both are tabulated: the paper's rule is what TABLE IX measures, the final flag
  is what the radiologist reads.
* **Silent flip**: an attacked image whose diagnosis is wrong while the flag says ACCEPT; per image, *worst case*
  over the attacks of the table (an image counts once if any attack flips it silently).
* **Alert as a detector**: the share of successfully attacked images (wrong diagnosis) that an alert flags, and
  its false alarms: the share of clean, correctly diagnosed images it flags.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

NATURAL = "natural"
UNION = "any alert"


def read_jsonl(paths: Iterable[Path]) -> Iterator[tuple[Path, int, dict]]:
    """(file, line number, record) of every non-empty line of JSON-lines files, ``.gz`` read as gzip: the one
    reader of `medrdf evaluate` and `medrdf noise-accuracy` records."""
    for path in paths:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    yield path, number, json.loads(line)


def load_records(paths: Iterable[Path]) -> list[dict]:
    """Records from ``records.jsonl`` files (``.gz`` read as gzip); a later record of the same (file, attack, row)
    replaces an earlier one, as the resumable evaluation does."""
    merged: dict[tuple[str, str, str], dict] = {}
    for _, _, rec in read_jsonl(paths):
        merged[(rec["file"], rec["attack"], rec["row"])] = rec
    return list(merged.values())


def with_detectors(records: list[dict], row: str) -> list[dict]:
    """The records (every row) of the images whose every ``row`` record carries both detector statistics: a vote cast
    before the model's card had scope statistics and a squeezing detector raised none of their alerts, so mixing
    such images into the flag tables would count the missing alerts as silence."""
    lacking = {r["file"] for r in records if r["row"] == row
               and (r.get("ood_score") is None or r.get("squeeze_score") is None)}
    return [r for r in records if r["file"] not in lacking]


def _flagged(rec: dict) -> bool:
    """The record carries the final flag (records written before the flag existed do not)."""
    return "verdict" in rec and "rm_verdict" in rec


def _by_attack(records: list[dict], row: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        if rec["row"] == row and _flagged(rec):
            out[rec["attack"]].append(rec)
    return out


@dataclass(frozen=True)
class FlagShares:
    """TABLE IX's four shares (%) for one attack, by one flag rule."""

    images: int
    c_r: float
    c_not_r: float
    not_c_not_r: float
    not_c_r: float  # silent flips (wrong and accepted)


def flag_shares(recs: list[dict], rule: str = "verdict") -> FlagShares:
    """The four shares of ``recs`` with R. read from ``rule`` ("verdict": the final flag, "rm_verdict": RM only)."""
    n = len(recs)
    if n == 0:
        return FlagShares(0, 0.0, 0.0, 0.0, 0.0)
    cells = defaultdict(int)
    for rec in recs:
        cells[(bool(rec["correct"]), rec[rule] == "accept")] += 1
    pct = lambda k: 100.0 * cells[k] / n  # noqa: E731
    return FlagShares(n, pct((True, True)), pct((True, False)), pct((False, False)), pct((False, True)))


def table_ix(records: list[dict], row: str, attacks: list[str]) -> tuple[list[str], list[list[str]]]:
    """TABLE IX for one MedRDF row: per attack, the four shares by the paper's rule and by the final flag."""
    header = ["Test set", "Images", "C.&R.", "C.&Not-R.", "Not-C.&Not-R.", "Not-C.&R. (silent)",
              "Final flag: C.&R.", "Final flag: Not-C.&R. (silent)"]
    by_attack = _by_attack(records, row)
    rows = []
    for attack in attacks:
        recs = by_attack.get(attack, [])
        if not recs:
            continue
        rm, final = flag_shares(recs, "rm_verdict"), flag_shares(recs, "verdict")
        rows.append([attack, str(rm.images), f"{rm.c_r:.1f}", f"{rm.c_not_r:.1f}", f"{rm.not_c_not_r:.1f}",
                     f"{rm.not_c_r:.1f}", f"{final.c_r:.1f}", f"{final.not_c_r:.1f}"])
    return header, rows


@dataclass(frozen=True)
class SilentFlips:
    images: int  # images with a record for every listed attack and for natural
    silent: float  # % of images some attack flipped silently (wrong and ACCEPT), worst case per image; NaN without attacks
    wrong: float  # % of images some attack made wrong (flagged or not); NaN without attacks
    clean_correct_accepted: float  # % of the same images correct and ACCEPT without attack


def silent_flips(records: list[dict], row: str, attacks: list[str], rule: str = "verdict") -> SilentFlips:
    """Worst case per image over ``attacks`` (natural excluded from the attacks, used for the clean figure). With no
    attack listed, only the clean figure is measured: ``silent`` and ``wrong`` are NaN, never a made-up 0."""
    per_image: dict[str, dict[str, dict]] = defaultdict(dict)
    for rec in records:
        if rec["row"] == row and _flagged(rec):
            per_image[rec["file"]][rec["attack"]] = rec
    attacked = [a for a in attacks if a != NATURAL]
    complete = [recs for recs in per_image.values() if NATURAL in recs and all(a in recs for a in attacked)]
    n = len(complete)
    if n == 0:
        return SilentFlips(0, float("nan"), float("nan"), float("nan"))
    clean = sum(recs[NATURAL]["correct"] and recs[NATURAL][rule] == "accept" for recs in complete)
    if not attacked:
        return SilentFlips(n, float("nan"), float("nan"), 100.0 * clean / n)
    silent = sum(any(not recs[a]["correct"] and recs[a][rule] == "accept" for a in attacked) for recs in complete)
    wrong = sum(any(not recs[a]["correct"] for a in attacked) for recs in complete)
    return SilentFlips(n, 100.0 * silent / n, 100.0 * wrong / n, 100.0 * clean / n)


def alert_detection(records: list[dict], row: str, attacks: list[str]) -> tuple[list[str], list[list[str]]]:
    """Per alert code and for their union (and for the RM rule itself, as a detector): the share of wrong
    attacked diagnoses it flags (per attack, pooled over the listed attacks) and its false alarms on clean,
    correctly diagnosed images."""
    by_attack = _by_attack(records, row)
    attacked = [a for a in attacks if a != NATURAL and by_attack.get(a)]
    clean_ok = [r for r in by_attack.get(NATURAL, []) if r["correct"]]
    codes = sorted({c for recs in by_attack.values() for r in recs for c in r["alerts"]})
    detectors = [(f"alert {c}", lambda r, c=c: c in r["alerts"]) for c in codes]
    detectors.append((UNION, lambda r: bool(r["alerts"])))
    detectors.append(("RM < threshold or abstained (paper)", lambda r: r["rm_verdict"] != "accept"))
    detectors.append(("final flag RE-EVALUATE", lambda r: r["verdict"] != "accept"))
    header = ["Detector", "False alarms (clean, correct)"] + [f"Caught: {a}" for a in attacked] + ["Caught: pooled"]
    rows = []
    for name, fires in detectors:
        cells = [name, _share(clean_ok, fires)]
        pooled: list[dict] = []
        for attack in attacked:
            wrong = [r for r in by_attack[attack] if not r["correct"]]
            pooled += wrong
            cells.append(_share(wrong, fires))
        cells.append(_share(pooled, fires))
        rows.append(cells)
    return header, rows


def _share(recs: list[dict], fires) -> str:
    if not recs:
        return "—"
    return f"{100.0 * sum(bool(fires(r)) for r in recs) / len(recs):.1f} ({len(recs)})"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _rate(outcomes: list[tuple[int, float]], balanced: bool) -> float:
    """Mean of ``(label, value)`` outcomes in %, or, balanced, the mean over labels of each label's mean (derma7's
    always-"nv" classifier scores 74 % plain and 1/7 balanced)."""
    if not balanced:
        return 100.0 * sum(v for _, v in outcomes) / len(outcomes)
    per_label: dict[int, list[float]] = defaultdict(list)
    for label, value in outcomes:
        per_label[label].append(value)
    return 100.0 * sum(sum(v) / len(v) for v in per_label.values()) / len(per_label)


def complete_images(records: list[dict], row: str, attacks: list[str]) -> dict[str, dict[str, dict]]:
    """Per image with a record of ``row`` for every one of ``attacks``: those records by attack."""
    per_image: dict[str, dict[str, dict]] = defaultdict(dict)
    for rec in records:
        if rec["row"] == row and rec["attack"] in attacks:
            per_image[rec["file"]][rec["attack"]] = rec
    return {f: v for f, v in per_image.items() if len(v) == len(attacks)}


def worst_case(records: list[dict], row: str, attacks: list[str], balanced: bool = False) -> tuple[float, int]:
    """Worst case (%) of ``row`` over ``attacks``: the share of images right under every one of them, over the
    images with a record for each (plain or class-balanced), and how many images that is (NaN, 0 when none)."""
    complete = list(complete_images(records, row, attacks).values())
    if not complete:
        return float("nan"), 0
    outcomes = [(next(iter(v.values()))["label"], float(all(r["correct"] for r in v.values()))) for v in complete]
    return _rate(outcomes, balanced), len(complete)


def accuracy_table(records: list[dict], attacks: list[str], balanced: bool = False,
                   value: str = "correct") -> tuple[list[str], list[list[str]]]:
    """Accuracy (%) per row and attack, with the images counted, and the worst case per image over the images that
    have every attack of the row (what ``medrdf evaluate`` prints, here also for a run stopped part-way).
    ``balanced``: class-balanced accuracy (mean of per-class accuracies). ``value="p_label"``: the share of the
    vote's copies naming the true class instead of the vote's outcome — for the Random R-P row, the accuracy of
    Xie et al.'s single random draw (rows without it are left out; no worst case, which needs one outcome)."""
    rows_seen = list(dict.fromkeys(r["row"] for r in records if value in r))
    single = value != "correct"
    header = ["Model"] + attacks + ([] if single else ["Worst case"])
    out = []
    for row in rows_seen:
        mine = [r for r in records if r["row"] == row and value in r]
        by_attack = {a: [r for r in mine if r["attack"] == a] for a in attacks}
        cells = [row]
        for attack in attacks:
            recs = by_attack[attack]
            cells.append(f"{_rate([(r['label'], float(r[value])) for r in recs], balanced):.1f} ({len(recs)})"
                         if recs else "—")
        if not single:
            rate, images = worst_case(mine, row, [a for a in attacks if by_attack[a]], balanced)
            cells.append(f"{rate:.1f} ({images})" if images else "—")
        out.append(cells)
    return header, out


def score_table(records: list[dict], row: str, attacks: list[str], field: str,
                threshold: float | None = None) -> tuple[list[str], list[list[str]]]:
    """The distribution of a per-image score the records carry (``ood_score``: does an attack move the image out
    of the model's scope?; ``squeeze_score``: the detector's statistic) per attack: quartiles and, with a
    threshold, the share above it, over all images and over the ones the attack made wrong."""
    by_attack = _by_attack(records, row)
    header = ["Test set", "Images", "25 %", "median", "75 %", "max"]
    if threshold is not None:
        header += [f"> {threshold:.4g}: all", f"> {threshold:.4g}: wrong ones"]
    rows = []
    for attack in attacks:
        recs = [r for r in by_attack.get(attack, []) if r.get(field) is not None]
        if not recs:
            continue
        values = sorted(float(r[field]) for r in recs)
        q = lambda p: values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]  # noqa: E731
        cells = [attack, str(len(values)), f"{q(0.25):.3g}", f"{q(0.5):.3g}", f"{q(0.75):.3g}", f"{values[-1]:.3g}"]
        if threshold is not None:
            wrong = [r for r in recs if not r["correct"]]
            cells += [_share(recs, lambda r: r[field] > threshold), _share(wrong, lambda r: r[field] > threshold)]
        rows.append(cells)
    return header, rows


def score_separation(records: list[dict], row: str, attack: str | list[str], field: str) -> tuple[list[float], list[float]]:
    """The scores a detector sees: ``field`` on the clean, correctly diagnosed images (negatives: what it must not
    flag) and on the images ``attack`` (one name or a list, pooled) made wrong (positives: what it should flag).
    Higher means more suspicious for every score the records carry (``ood_score``, ``squeeze_score``)."""
    by_attack = _by_attack(records, row)
    attacks = [attack] if isinstance(attack, str) else list(attack)
    negatives = [float(r[field]) for r in by_attack.get(NATURAL, []) if r["correct"] and r.get(field) is not None]
    positives = [float(r[field]) for a in attacks for r in by_attack.get(a, [])
                 if not r["correct"] and r.get(field) is not None]
    return negatives, positives


def auroc(negatives: list[float], positives: list[float]) -> float:
    """Area under the ROC curve: P(positive's score > negative's) + ½ P(tie) (Mann–Whitney); NaN if a side is empty."""
    if not negatives or not positives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def roc_curve(negatives: list[float], positives: list[float]) -> tuple[list[float], list[float]]:
    """(false-positive rates, true-positive rates) of the rule "flag when score ≥ t" over every distinct t, from
    (0, 0) to (1, 1)."""
    fpr, tpr = [0.0], [0.0]
    for t in sorted(set(negatives) | set(positives), reverse=True):
        fpr.append(sum(n >= t for n in negatives) / max(1, len(negatives)))
        tpr.append(sum(p >= t for p in positives) / max(1, len(positives)))
    if fpr[-1] != 1.0 or tpr[-1] != 1.0:
        fpr.append(1.0)
        tpr.append(1.0)
    return fpr, tpr


def operating_point(negatives: list[float], positives: list[float], threshold: float) -> tuple[float, float]:
    """(false-alarm rate, catch rate) of the alert that fires when the score exceeds ``threshold``; NaN for an
    empty side."""
    rate = lambda values: sum(v > threshold for v in values) / len(values) if values else float("nan")  # noqa: E731
    return rate(negatives), rate(positives)


def roc_table(records: list[dict], row: str, attacks: list[str], field: str,
              threshold: float | None = None) -> tuple[list[str], list[list[str]]]:
    """A thresholded alert's score as a detector, per attack and pooled: AUROC of wrong attacked images against
    clean correct ones, and, with the card's threshold, the share of each it flags (the alert's operating point)."""
    header = ["Attacked set", "Wrong (positives)", "Clean correct (negatives)", "AUROC"]
    if threshold is not None:
        header += [f"Caught at > {threshold:.4g}", f"False alarms at > {threshold:.4g}"]
    sets = [(a, *score_separation(records, row, a, field)) for a in attacks if a != NATURAL]
    sets = [(name, negatives, positives) for name, negatives, positives in sets if positives]
    if len(sets) > 1:  # the clean images are the same for every attack
        sets.append(("pooled", sets[0][1], [p for _, _, positives in sets for p in positives]))
    pct = lambda v: "—" if v != v else f"{100.0 * v:.1f}"  # noqa: E731
    rows = []
    for name, negatives, positives in sets:
        area = auroc(negatives, positives)
        cells = [name, str(len(positives)), str(len(negatives)), "—" if area != area else f"{area:.3f}"]
        if threshold is not None:
            false_alarms, caught = operating_point(negatives, positives, threshold)
            cells += [pct(caught), pct(false_alarms)]
        rows.append(cells)
    return header, rows


def sigma_eps_table(runs: list[tuple[float, list[dict]]], attacks: list[str] | None = None,
                    balanced: bool = False) -> tuple[list[str], list[list[str]], list[dict]]:
    """The paper's TABLE I from ``(ε in 1/255, records)`` runs of ``medrdf evaluate --sigmas …``: one line per ε
    (0 = natural, from the first run), one column per row (the base model, then each MedRDF row by its σ), each
    cell the worst case per image over ``attacks`` (default: every attack all runs share for that row) with the
    images counted; plus, per column, the envelope: the largest ε up to which every measured ε kept ≥ 80 %
    (``modelzoo.card.envelopes``, the rule the card and the settings panel use). Returns header, lines, and the
    envelope entries."""
    from ..modelzoo.card import envelopes

    runs = sorted(runs, key=lambda r: r[0])
    sigma_of: dict[str, float | None] = {}
    for _, recs in runs:
        for r in recs:
            sigma_of.setdefault(r["row"], r.get("sigma"))
    common = set.intersection(*({r["row"] for r in recs} for _, recs in runs)) if runs else set()
    columns = sorted(common, key=lambda row: (sigma_of[row] is not None, sigma_of[row] or 0.0, row))

    def row_attacks(row: str) -> list[str]:
        shared = set.intersection(*({r["attack"] for r in recs if r["row"] == row} for _, recs in runs))
        chosen = [a for a in shared if a != NATURAL and (attacks is None or a in attacks)]
        return sorted(chosen)

    levels = [sigma_of[row] for row in columns if sigma_of[row] is not None]
    short = len(levels) == len(set(levels))  # one row per σ: name the column by its σ alone
    header = ["ε"] + [f"σ = {sigma_of[row]:g}" if short and sigma_of[row] is not None else row for row in columns]
    lines: list[list[str]] = []
    measured: list[dict] = []
    natural = [worst_case(runs[0][1], row, [NATURAL], balanced) for row in columns] if runs else []
    lines.append(["0 (natural)"] + [f"{acc:.1f} ({n})" if n else "—" for acc, n in natural])
    for eps, recs in runs:
        cells = [f"{eps:g}/255"]
        for row in columns:
            chosen = row_attacks(row)
            acc, n = worst_case(recs, row, chosen, balanced) if chosen else (float("nan"), 0)
            cells.append(f"{acc:.1f} ({n})" if n else "—")
            if n:  # rows have distinct names, so the envelope groups by row alone
                measured.append({"row": row, "epsilon": eps, "worst_case_accuracy": acc, "images": n,
                                 "attacks": chosen})
        lines.append(cells)
    for row, (acc, n) in zip(columns, natural):  # a row below the floor on clean images has no envelope at all
        if n:
            measured.append({"row": row, "epsilon": 0.0, "worst_case_accuracy": acc, "images": n, "attacks": []})
    return header, lines, envelopes(measured)
