"""What the report says, as plain rows of text: kept apart from the layout so that de-identification and the
reproducibility settings can be read (and tested) without drawing anything.

De-identification is decided here and only here: with ``deidentify`` no row carries a value from
``Study.identifiers``, the modality or the file name (file names often embed a name or an accession number);
the study is named by a short hash of its pixel data instead.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

from ..imaging import Study
from ..alerts import Alert
from ..robust.result import Result, p_value_phrase

Row = tuple[str, str]

DISCLAIMER = ("Research tool — NOT a medical device. Not for clinical diagnosis or treatment decisions; "
              "every finding must be confirmed by a qualified clinician.")
FLAG_COLOURS = {"accept": "#2e7d32", "re-evaluate": "#e69500"}  # green / amber
NOT_RECORDED = "not recorded"


def flag_text(result: Result) -> str:
    return "ACCEPT" if result.verdict == "accept" else "RE-EVALUATE"


def image_key(study: Study) -> str:
    """The short, non-identifying name of a study: the first 12 hex digits of its pixel data's SHA-256."""
    return study.pixel_sha256()[:12]


def _dicom_date(value: str) -> str:
    """``YYYYMMDD`` → ``YYYY-MM-DD``; anything else as stored."""
    text = value.strip()
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _person_name(value: str) -> str:
    """DICOM PN ``Family^Given^Middle`` → ``Family, Given Middle``."""
    parts = [p for p in value.split("^") if p]
    return f"{parts[0]}, {' '.join(parts[1:])}" if len(parts) > 1 else (parts[0] if parts else "")


def study_rows(study: Study, deidentify: bool) -> list[Row]:
    if deidentify:
        return [("Study", "de-identified"), ("Image key", f"{image_key(study)} (pixel SHA-256, first 12 digits)")]
    ids = study.identifiers
    return [
        ("Patient name", _person_name(ids.get("PatientName", "")) or "—"),
        ("Patient ID", ids.get("PatientID", "") or "—"),
        ("Birth date", _dicom_date(ids.get("PatientBirthDate", "")) or "—"),
        ("Study date", _dicom_date(ids.get("StudyDate", "")) or "—"),
        ("Modality", study.modality or "—"),
        ("File", study.path.name),
        ("Image key", f"{image_key(study)} (pixel SHA-256, first 12 digits)"),
    ]


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else f"{value:g}"


def settings_rows(result: Result, copies: int | None, target_layer: str | None) -> list[Row]:
    """Every setting needed to reproduce the Result (and its defended map), with the values actually used."""
    s = result.settings
    kernel_name = "Median window" if s["denoiser"] == "median" else "Smoothing σ (px)" if s["denoiser"] == "gaussian" else "Kernel"
    rows = [
        ("Noise", str(s["noise"])),
        ("Noise level σ", _number(s["sigma"])),
        ("Copies n", _number(int(s["n"]))),
    ]
    if s.get("sampling", "fixed") == "adaptive":
        rows += [("Sampling", "adaptive (n is the cap)"), ("Copies drawn", _number(int(result.n_used)))]
    if s["noise"] == "gaussian":
        rows.append(("Selection copies n0", _number(int(s["n0"]))))
    rows += [
        ("Denoiser", str(s["denoiser"])),
        (kernel_name, _number(s["kernel"])),
        ("Significance α", _number(s["alpha"])),
        ("RM threshold", _number(result.rm_threshold)),
        ("Seed", str(result.seed)),
        ("Batch size", str(s["batch_size"])),
        ("Device requested", str(s.get("device", "auto"))),
        ("Vote backend", f"{s.get('backend', 'torch')} {s.get('precision', 'fp32')}"),
        ("Grad-CAM copies m", str(copies) if copies else "not computed"),
        ("Grad-CAM layer", target_layer or "—"),
    ]
    return rows


def reproduce_command(result: Result, copies: int | None) -> str:
    """The ``medrdf predict`` line that recomputes this Result (image path left as IMAGE: it may identify)."""
    s = result.settings
    parts = [f"medrdf predict IMAGE --model {result.model['name']}", f"--noise {s['noise']} --sigma {s['sigma']:g}",
             f"--denoiser {s['denoiser']} --kernel {s['kernel']:g}", f"--n {s['n']}"]
    parts.append(f"--sampling {s.get('sampling', 'fixed')}")  # always: the CLI's default is adaptive
    if s["noise"] == "gaussian":
        parts.append(f"--n0 {s['n0']}")
    parts += [f"--alpha {s['alpha']:g} --threshold {result.rm_threshold:g}", f"--seed {result.seed}",
              f"--batch-size {s['batch_size']}",
              # the backend that ran, not the one asked for ("auto" may pick another elsewhere): a bf16 vote
              # changes some copies' labels, so the precision belongs to the result
              f"--backend {s.get('backend', 'torch')} --precision {s.get('precision', 'fp32')}"]
    if copies:
        parts.append(f"--gradcam-copies {copies}")
    return " ".join(parts)


def model_rows(result: Result, card: Any | None) -> list[Row]:
    accuracy = card.metrics.get("test", {}).get("accuracy") if card is not None else None
    acc_text = f"{100 * accuracy:.1f} %" if isinstance(accuracy, (int, float)) else NOT_RECORDED
    rows = [("Model", result.model.get("name", "") or "—")]
    if card is not None:
        rows.append(("Architecture", f"{card.architecture}, input {card.input_size[0]}×{card.input_size[1]}, "
                                     f"{card.channels} channel(s)"))
    rows += [("Weights SHA-256", result.model.get("sha256", "") or "—"), ("Test accuracy", acc_text)]
    if card is not None and card.description:
        rows.append(("Description", textwrap.shorten(card.description, 100)))
    return rows


def _timestamp(iso: str) -> str:
    """The Result's ISO-8601 time in the report's own format (as stored when it does not parse)."""
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return iso or "—"


def run_rows(result: Result, generated: str) -> list[Row]:
    return [
        ("Device", result.device),
        ("Analysis time", f"{result.elapsed_s:.1f} s"),
        ("Analysed at", _timestamp(result.timestamp)),
        ("Report generated", generated),
    ]


def statistics_rows(result: Result) -> list[Row]:
    rows = [
        ("Top vote", f"{result.display(result.top_class)}: {result.n_a:,} of {result.n_used or result.n:,}"),
        ("Runner-up", f"{result.display(result.runner_up_class)}: {result.n_b:,}"),
        ("Binomial test", f"{p_value_phrase(result.p_value)} (α = {result.settings['alpha']:g})"),
        ("Robust Metric", f"RM = {result.rm:.2f} (threshold {result.rm_threshold:g}, range 0–{result.num_classes})"),
        ("RM rule (paper)", "accept" if result.rm_verdict == "accept" else "re-evaluate"),
        ("p_A lower bound", f"{result.pa_lower_clopper_pearson:.4f} Clopper–Pearson, {result.pa_lower_bound:.4f} Hoeffding"),
    ]
    if result.certified_radius is not None:
        rows.append(("Certified L2 radius", f"{result.certified_radius:.4f}"))
    rows.append(("Scope", result.scope_summary()))
    return rows


def base_text(result: Result) -> str:
    p = result.base_probabilities.get(result.base_diagnosis, 0.0)
    return f"Base (undefended) model: {result.display(result.base_diagnosis)} ({100 * p:.1f} %)"


def alert_text(alert: Alert) -> str:
    return f"{alert.title.upper()}: {alert.message}"
