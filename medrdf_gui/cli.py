"""``medrdf``: the command line. Every user error ends in one line on stderr and a non-zero exit, never a
traceback (set MEDRDF_DEBUG=1 to see one). Exit codes: 0 result (abstain included), 2 bad input or usage,
1 any other failure, 130 interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from ._version import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STUDY_SUFFIXES = {".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ""}


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``predict`` and ``evaluate``: model, sampling size, noise level, test, device, backend."""
    from .robust.settings import BACKENDS, PRECISIONS, RobustSettings

    d = RobustSettings()
    p.add_argument("--model", default=None, help="shipped model name or path of a model card (default: cxr3-resnet18)")
    p.add_argument("--n", type=int, default=d.n, help=f"number of noisy copies (default {d.n})")
    p.add_argument("--sigma", type=float, default=d.sigma, help=f"noise level σ (default {d.sigma})")
    p.add_argument("--kernel", type=float, default=d.kernel, help="median window size (odd) or gaussian σ in pixels (default 3)")
    p.add_argument("--alpha", type=float, default=d.alpha, help=f"significance level of the binomial test (default {d.alpha})")
    p.add_argument("--threshold", type=float, default=None, help="RM threshold (default (K-1)/2)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"copies per forward pass (default {d.batch_size})")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, reported)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--backend", choices=BACKENDS, default=d.backend,
                   help="library that classifies the vote's copies on a CPU; auto: the fastest installed one "
                        "(OpenVINO, ONNX Runtime, torch), torch when none works (default auto)")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="the vote's arithmetic (default fp32); bf16 (torch or openvino) only on a CPU with native "
                        "bf16: faster, but it changes some per-copy labels (docs/performance.md)")


def _add_robust_options(p: argparse.ArgumentParser) -> None:
    from .robust.settings import APP_DEFAULTS, DENOISERS, NOISES, SAMPLING

    d = APP_DEFAULTS
    _add_common_options(p)
    p.add_argument("--noise", choices=NOISES, default=d.noise, help=f"noise type (default {d.noise})")
    p.add_argument("--denoiser", choices=DENOISERS, default=d.denoiser, help=f"denoiser (default {d.denoiser})")
    p.add_argument("--n0", type=int, default=d.n0, help=f"selection draw for gaussian certification (default {d.n0})")
    p.add_argument("--sampling", choices=SAMPLING, default=d.sampling,
                   help="adaptive: stop once the verdict is settled, n is the cap (default); fixed: exactly n "
                        "copies (the paper)")
    p.add_argument("--frame", type=int, default=1, help="frame number for multi-frame DICOM, from 1 (default 1)")


def _add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", metavar="PDF", default=None,
                   help="write a PDF report with Grad-CAM maps: a file (one image), or for several images a folder "
                        "(one <image stem>.pdf each, <pixel hash>.pdf with --deidentify) or a pattern using {stem} "
                        "and {hash}, e.g. 'reports/{stem}-{hash}.pdf'")
    p.add_argument("--deidentify", action="store_true",
                   help="with --report: no patient name/ID/dates, modality or file name in the report; the image is "
                        "named by a 12-digit hash of its pixel data")
    p.add_argument("--gradcam-copies", metavar="M", type=int, default=32,
                   help="with --report: noisy copies averaged for the defended Grad-CAM map (default 32)")


def _write_report(args: argparse.Namespace, path: Path, study: Any, x: Any, model: Any, result: Any,
                  many: bool, used: set, show_progress: bool) -> None:
    """Grad-CAM maps at the study's displayed size, then the PDF report; a write failure ends the run (exit 1)."""
    from .explain import attention_maps
    from .report import ReportError, report_path_for, write_report

    try:
        target = report_path_for(args.report, path, study.pixel_sha256(), deidentify=args.deidentify, many=many, used=used)
        maps = attention_maps(model, x, result, copies=args.gradcam_copies, size=study.shape,
                              progress=_Progress(show_progress, f"{path.name} Grad-CAM"))
        write_report(target, result, study, maps, card=model.card, deidentify=args.deidentify)
    except ReportError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medrdf", description="MedRDF Viewer command line: robust diagnosis of radiographs.")
    parser.add_argument("--version", action="version", version=f"medrdf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="robust diagnosis of image files or folders")
    p.add_argument("images", nargs="+", help="DICOM/PNG/JPEG files or folders of them")
    _add_robust_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")
    _add_report_options(p)
    p.add_argument("--send", metavar="SERVER", default=None,
                   help="file each DICOM result back into its study on this PACS (AET@host:port or a configured "
                        "name): the report as an Encapsulated PDF and a DICOM structured report (docs/pacs.md)")
    p.add_argument("--aet", default=None, help="with --send: this app's own (calling) AE title (default: the PACS "
                                               "settings', else MEDRDF)")
    audit = p.add_mutually_exclusive_group()
    audit.add_argument("--audit-log", metavar="PATH", default=None,
                       help="append one JSON line per verdict here (default $MEDRDF_AUDIT_LOG, else "
                            "$XDG_STATE_HOME/medrdf/audit.jsonl); no identifiers or paths are logged")
    audit.add_argument("--no-audit-log", action="store_true", help="do not write the audit log for this run")

    sub.add_parser("models", help="list the shipped models")

    b = sub.add_parser("bench", help="throughput of the bare classifier vs the full MedRDF pipeline")
    b.add_argument("image", nargs="?", default=None, help="image to replicate (default: a generated test pattern)")
    b.add_argument("--repeats", type=int, default=5, help="timed repetitions (default 5)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    _add_robust_options(b)
    b.set_defaults(n=1024, seed=0)

    e = sub.add_parser("evaluate", help="accuracy under attack of the base model and MedRDF (the paper's TABLE III)")
    e.add_argument("--data", type=Path, required=True, help="a split folder with one sub-folder per class, e.g. ../shared/data/cxr3/test")
    e.add_argument("--attacks", default="fgsm,pgd20,cw", help="comma-separated: fgsm, ifgsm1, ifgsm2, ifgsm5, ifgsm7, pgd7, pgd20, pgd100, cw, pgd100-squeeze (aware of the squeezing detector), pgd100-aware (of every image alert: scope and squeezing), square, spsa, rays, autoattack, eot-pgd, eot-pgd-small, eot-pgd-smooth, eot-pgd-strong, eot-pgd-aware (EOT through the vote and aware of every alert), autoattack-rand")
    e.add_argument("--noises", default="salt-pepper", help="comma-separated noises for the MedRDF rows")
    e.add_argument("--denoisers", default="median", help="comma-separated denoisers for the MedRDF rows")
    e.add_argument("--defences", default=None,
                   help="comma-separated NOISE+DENOISER rows in place of every --noises × --denoisers pair, e.g. "
                        "salt-pepper+median,resize-pad+none (resize-pad+none is Xie et al.'s Random R-P)")
    e.add_argument("--sigmas", default=None,
                   help="comma-separated noise levels: every MedRDF row at each of them, named with its σ (the "
                        "paper's TABLE I: --sigmas 0.05,0.1,0.15,0.2,0.25,0.3); transferred attacks are crafted "
                        "once and shared, adaptive ones run per row. Default: one row per pair at --sigma")
    e.add_argument("--eps", type=float, default=8.0, help="L∞ budget in 1/255 units (default 8)")
    e.add_argument("--limit", type=int, default=None, help="number of images (class-balanced, first in sorted order)")
    e.add_argument("--out", type=Path, required=True, help="folder for records.jsonl (resumable), table.csv and table.md")
    e.add_argument("--sampling", choices=("fixed", "adaptive"), default="fixed",
                   help="fixed: exactly n copies per vote (the paper); adaptive: stop once settled, n is the cap")
    e.add_argument("--update-card", action="store_true",
                   help="record each row's natural accuracy in the model card's validated defences (app cautions)")
    e.add_argument("--attack-batch", type=int, default=1,
                   help="images attacked together (default 1; 32 or more on a GPU, where a batch costs about one image)")
    e.add_argument("--smoothing-sigma", type=float, default=1.0,
                   help="σ in pixels of the GS rows' gaussian smoothing (default 1; --kernel is the MF rows' window)")
    _add_common_options(e)

    na = sub.add_parser("noise-accuracy", help="the base model's accuracy on noisy, denoised copies, without voting "
                                               "(the paper's TABLE VI)")
    na.add_argument("--data", type=Path, required=True,
                    help="a split folder with one sub-folder per class, e.g. ../shared/data/cxr3/test")
    na.add_argument("--model", default=None, help="shipped model name or path of a model card (default: cxr3-resnet18)")
    na.add_argument("--noises", default="gaussian,salt-pepper,poisson", help="comma-separated noises (default "
                                                                            "gaussian,salt-pepper,poisson)")
    na.add_argument("--denoisers", default="none,gaussian,median",
                    help="comma-separated denoisers (default none,gaussian,median)")
    na.add_argument("--sigma", type=float, default=0.1, help="noise level σ (default 0.1)")
    na.add_argument("--kernel", type=int, default=3, help="the MF columns' median window, odd (default 3, the app's)")
    na.add_argument("--smoothing-sigma", type=float, default=1.0,
                    help="σ in pixels of the GS columns' gaussian smoothing (default 1, the app's)")
    na.add_argument("--copies", type=int, default=10, help="independent copies per image and setting (default 10)")
    na.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    na.add_argument("--limit", type=int, default=None, help="number of images (class-balanced, first in sorted order)")
    na.add_argument("--out", type=Path, required=True, help="folder for records.jsonl (resumable) and table.md")
    na.add_argument("--balanced", action="store_true",
                    help="also the class-balanced table (mean of per-class accuracies; for imbalanced splits)")
    na.add_argument("--batch-size", type=int, default=64, help="copies per forward pass (default 64)")
    na.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    na.add_argument("--backend", choices=("auto", "torch", "onnxruntime", "openvino"), default="auto",
                    help="library that classifies the copies, as for the vote (default auto)")
    na.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="the copies' arithmetic (default fp32)")

    tb = sub.add_parser("tables", help="rebuild the flag tables (TABLE IX, silent flips, alerts as detectors) "
                                       "from evaluation records")
    tb.add_argument("records", nargs="+", type=Path, help="records.jsonl files of `medrdf evaluate` (.gz accepted)")
    tb.add_argument("--row", default="MedRDF salt-pepper + MF", help="the MedRDF row (default: the paper's)")
    tb.add_argument("--attacks", default=None,
                    help="comma-separated attacks in table order (default: every attack in the records, natural first)")
    tb.add_argument("--with-detectors", action="store_true",
                    help="only the images whose every vote of --row was cast with the scope and squeezing detectors "
                         "(records carrying ood_score and squeeze_score): records made before a card had them "
                         "would count its alerts as silent")
    tb.add_argument("--kind", default="ix,flips,alerts",
                    help="comma-separated: accuracy, balanced (class-balanced accuracy), single-draw (Random R-P's "
                         "one random draw, from the share of copies), ix, flips, alerts, scope (out-of-scope score "
                         "per attack), squeeze (detector statistic per attack), roc (each score's AUROC against wrong "
                         "attacked images, and its operating point at the card's threshold); or, from `medrdf noise-accuracy` "
                         "records only, noise-accuracy and noise-balanced (TABLE VI, plain and class-balanced)")
    tb.add_argument("--model", default=None,
                    help="model whose card gives the scope and detector thresholds (kinds scope, squeeze, roc)")

    dt_ = sub.add_parser("detector", help="the adversarial-input detector of a model (feature squeezing; threshold in "
                                          "its card)")
    dt_sub = dt_.add_subparsers(dest="detector_command", required=True)
    df = dt_sub.add_parser("fit", help="calibrate the threshold on the validation split and write the card's "
                                       "detector entry")
    df.add_argument("model", help="shipped model name or path of a model card")
    df.add_argument("--data-dir", type=Path, default=None,
                    help="data root holding <dataset>/val (default ../shared/data or $MEDRDF_DATA_DIR)")
    df.add_argument("--dataset", default=None, help="data set folder (default: the one the card says it was trained on)")
    df.add_argument("--rate", type=float, default=0.05, help="share of validation images flagged (default 0.05)")
    df.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    df.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    sc = sub.add_parser("scope", help="the out-of-scope detector of a model (statistics and threshold in its card)")
    scope_sub = sc.add_subparsers(dest="scope_command", required=True)
    f = scope_sub.add_parser("fit", help="fit on the training split, calibrate the threshold on the validation split, "
                                         "write <model>.scope.safetensors and the card's scope entry")
    f.add_argument("model", help="shipped model name or path of a model card")
    f.add_argument("--data-dir", type=Path, default=None,
                   help="data root holding <dataset>/train and <dataset>/val (default ../shared/data or $MEDRDF_DATA_DIR)")
    f.add_argument("--dataset", default=None, help="data set folder (default: the one the card says it was trained on)")
    f.add_argument("--method", choices=("mahalanobis", "energy"), default="mahalanobis",
                   help="score (default mahalanobis; docs/scope.md compares the candidates)")
    f.add_argument("--layers", default=None,
                   help="comma-separated feature layers of the mahalanobis score (default: the residual stages, "
                        "net.layer1 … net.layer4 in a ResNet)")
    f.add_argument("--rate", type=float, default=0.05, help="largest share of validation images flagged (default 0.05)")
    f.add_argument("--domain", default=None,
                   help="what the training images are, in the alert's words (default: known for cxr3 and derma7)")
    f.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    f.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    _add_pacs_parser(sub)

    t = sub.add_parser("train", help="train (or resume) a shipped model's recipe, then export it into models/")
    t.add_argument("recipe", help="recipe name, e.g. cxr3-resnet18")
    t.add_argument("--data-dir", type=Path, default=None, help="data root (default ../shared/data or $MEDRDF_DATA_DIR)")
    t.add_argument("--out", type=Path, default=None, help="where to write the model (default models/)")
    t.add_argument("--run-dir", type=Path, default=None, help="checkpoint folder (default ~/.cache/medrdf/runs/NAME)")
    t.add_argument("--limit-per-class", type=int, default=None, help="use only N images per class (smoke runs)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--no-export", action="store_true", help="train only")
    t.add_argument("--export-as", default=None, metavar="NAME",
                   help="export under this model name (e.g. the TABLE XI winner as cxr3-resnet18-at); the card "
                        "records the recipe")
    return parser


def _add_pacs_parser(sub: Any) -> None:
    pc = sub.add_parser("pacs", help="query and retrieve studies from a PACS (DICOM C-ECHO, C-FIND, C-GET)",
                        description="SERVER is AET@host:port (the PACS's AE title, host and DICOM port) or the name of "
                                    "a server in the PACS settings ($MEDRDF_PACS_CONFIG, else "
                                    "~/.config/medrdf/pacs.json; docs/pacs.md).")
    pacs_sub = pc.add_subparsers(dest="pacs_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("server", metavar="SERVER", help="AET@host:port or a configured server name")
        p.add_argument("--aet", default=None, help="this app's own (calling) AE title (default: the settings', else MEDRDF)")
        p.add_argument("--timeout", type=float, default=None, help="seconds to wait for each answer (default 30)")

    common(pacs_sub.add_parser("echo", help="test the connection (C-ECHO)"))
    f = pacs_sub.add_parser("find", help="find studies (C-FIND); patient names appear only in this output")
    common(f)
    f.add_argument("--patient-id", default="", help="exact patient ID")
    f.add_argument("--patient-name", default="", help="patient name, DICOM wildcards * and ? (e.g. 'SMITH^J*')")
    f.add_argument("--date-from", default="", help="study date from (YYYY-MM-DD)")
    f.add_argument("--date-to", default="", help="study date to (YYYY-MM-DD)")
    f.add_argument("--modality", default="", help="a modality in the study (CR, DX, CT, …)")
    f.add_argument("--accession", default="", help="accession number")
    f.add_argument("--study-uid", default="", help="Study Instance UID")
    f.add_argument("--limit", type=int, default=500, help="at most this many studies (default 500)")
    f.add_argument("--json", action="store_true", help="one JSON object per study on stdout")
    g = pacs_sub.add_parser("get", help="retrieve a study or series (C-GET) into a folder")
    common(g)
    g.add_argument("study_uid", metavar="STUDY_UID", help="Study Instance UID")
    g.add_argument("--series", action="append", default=None, metavar="UID",
                   help="only this Series Instance UID (repeatable; default: every series of the study)")
    g.add_argument("--out", type=Path, required=True,
                   help="folder to retrieve into: <out>/<study key>/<series key>/*.dcm, each series complete or absent")
    g.add_argument("--json", action="store_true", help="one JSON object per series on stdout")
    s = pacs_sub.add_parser("servers", help="list, add or remove the configured PACS servers")
    s.add_argument("--add", nargs=2, metavar=("NAME", "AET@HOST:PORT"), default=None, help="add or replace a server")
    s.add_argument("--remove", metavar="NAME", default=None, help="remove a server")
    s.add_argument("--calling-aet", default=None, help="set this app's own AE title")


def _settings_from(args: argparse.Namespace):
    from .robust.settings import RobustSettings

    return RobustSettings(
        noise=args.noise, sigma=args.sigma, denoiser=args.denoiser, kernel=args.kernel, n=args.n, n0=args.n0,
        alpha=args.alpha, threshold=args.threshold, batch_size=args.batch_size, seed=args.seed, device=args.device,
        sampling=args.sampling, backend=args.backend, precision=args.precision,
    ).validate()


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Files as given; folders expanded to the image/DICOM files inside (recursively, sorted)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in STUDY_SUFFIXES
                                and not p.name.startswith(".")))
        else:
            paths.append(path)
    return paths


class _Progress:
    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label, self.last = enabled, label, -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = int(100 * done / total)
        if pct != self.last:
            self.last = pct
            end = "\n" if done >= total else ""
            print(f"\r{self.label}: {done:,}/{total:,} copies ({pct}%)", end=end, file=sys.stderr, flush=True)


def _summary(path: Path, result: Any) -> str:
    lines = [f"{path}"]
    flag = "ACCEPT" if result.verdict == "accept" else "RE-EVALUATE"
    lines.append(f"  MedRDF diagnosis: {result.headline()}  [{flag}]")
    lines.append(f"  {result.scope_note()}")
    lines.append(f"  {result.reason()}")
    votes = " · ".join(f"{result.display(c)} {v:,}" for c, v in result.counts.items())
    from .robust.result import p_value_phrase

    drawn = f"n = {result.n:,}" if result.n_used == result.n else f"n used = {result.n_used:,} of {result.n:,}"
    lines.append(f"  votes: {votes}  ({drawn}, {p_value_phrase(result.p_value)})")
    base_p = result.base_probabilities[result.base_diagnosis]
    lines.append(f"  base model: {result.display(result.base_diagnosis)} ({100 * base_p:.1f} %)")
    lines.extend(f"  ALERT ({alert.title.lower()}): {alert.message}" for alert in result.alerts)
    lines.append(f"  scope: {result.scope_summary()}")
    if result.protection:
        lines.append(f"  protection: {result.protection}")
    if result.certified_radius is not None:
        lines.append(f"  certified L2 radius: {result.certified_radius:.4f}")
    lines.append(f"  model {result.model['name']} · {result.device} · seed {result.seed} · {result.elapsed_s:.1f} s")
    lines.extend(f"  note: {w}" for w in result.notes)
    return "\n".join(lines)


class _Auditor:
    """Audit-log writes for one CLI run: a failure prints one warning line (once per run) and never changes the
    exit code, because the result it concerns has already been printed."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .audit import AuditLog

        self.log = AuditLog(args.audit_log, enabled=not args.no_audit_log)
        self.warned = False

    def __call__(self, result: Any) -> None:
        from .audit import AuditError

        try:
            self.log.record(result)
        except AuditError as exc:
            if not self.warned:
                self.warned = True
                print(f"medrdf: warning: {exc} The result above is kept but not audited.", file=sys.stderr, flush=True)


def cmd_predict(args: argparse.Namespace) -> int:
    from .imaging import StudyLoadError, load_study
    from .modelzoo import DEFAULT_MODEL, ModelNotFoundError, load_model, study_to_tensor
    from .robust import Cancelled, EngineError, SettingsError, robust_predict
    from .robust.device import resolve_device

    try:
        settings = _settings_from(args)
        device = resolve_device(settings.device)
    except (SettingsError, EngineError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.frame < 1:
        raise CliError("--frame counts from 1.", EXIT_USAGE)
    if args.gradcam_copies < 1:
        raise CliError("--gradcam-copies must be at least 1.", EXIT_USAGE)
    try:
        model = load_model(args.model or DEFAULT_MODEL, device=device)
    except ModelNotFoundError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    paths = expand_inputs(args.images)
    if not paths:
        raise CliError("No image files found in the given folder(s).", EXIT_USAGE)
    if args.report:
        from .report import ReportError, check_report_target

        try:
            check_report_target(args.report, len(paths))
        except ReportError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    show_progress = args.progress or sys.stderr.isatty()
    audit = _Auditor(args)
    sender = _Sender(args, audit) if args.send else None
    failed = 0
    report_paths: set[Path] = set()
    for path in paths:
        try:
            study = load_study(path, frame=args.frame - 1)
            x = study_to_tensor(study, model.card)
            result = robust_predict(model, x, settings, progress=_Progress(show_progress, path.name))
            result.attach_study(study)
        except StudyLoadError as exc:
            failed += 1
            if args.json:
                print(json.dumps({"path": str(path), "error": str(exc)}), flush=True)
            print(f"medrdf: {exc}", file=sys.stderr)
            continue
        except Cancelled:
            raise
        except EngineError as exc:
            raise CliError(str(exc), EXIT_FAILURE) from None
        if args.json:
            print(json.dumps({"path": str(path), **result.to_dict()}), flush=True)
        else:
            print(_summary(path, result), flush=True)
        audit(result)
        if args.report:
            _write_report(args, path, study, x, model, result, len(paths) > 1, report_paths, show_progress)
        if sender is not None:
            sender(path, study, x, model, result, show_progress)
    if failed:
        return EXIT_USAGE
    return EXIT_FAILURE if sender is not None and sender.failed else EXIT_OK


class _Sender:
    """``predict --send``: file each result into its study on the PACS. A refused or failed send prints one line
    and makes the exit code 1 at the end; the other images go on."""

    def __init__(self, args: argparse.Namespace, auditor: "_Auditor") -> None:
        from .pacs import PacsError

        try:
            self.config, self.server = _pacs_server(args.send)
        except PacsError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        self.args, self.auditor, self.failed = args, auditor, 0
        self.calling = _calling_aet(args, self.config)

    def __call__(self, path: Path, study: Any, x: Any, model: Any, result: Any, show_progress: bool) -> None:
        from .explain import ExplainError, attention_maps
        from .pacs import PacsError, send_result, source_is_deidentified
        from .pacs.send import audit_entry
        from .report import ReportError
        from .report.writer import render_report

        receipt, error = None, ""
        try:
            deidentified = source_is_deidentified(study)
            try:
                maps = attention_maps(model, x, result, copies=self.args.gradcam_copies, size=study.shape,
                                      progress=_Progress(show_progress, f"{path.name} Grad-CAM"))
            except ExplainError:
                maps = None  # the report says the maps are missing
            pdf = render_report(result, study, maps, card=model.card, deidentify=deidentified)
            receipt = send_result(self.server, self.calling, study, result, pdf, report_identified=not deidentified,
                                  timeout=self.config.timeout_s)
        except (PacsError, ReportError) as exc:
            error = str(exc)
            self.failed += 1
            print(f"medrdf: {path.name}: not sent to {self.server}: {exc}", file=sys.stderr, flush=True)
        else:
            print(f"  sent to {self.server}: report PDF and structured report filed in the image's study",
                  file=sys.stderr if self.args.json else sys.stdout, flush=True)
        if self.auditor.log.enabled:
            from .audit import AuditError

            try:
                self.auditor.log.append(audit_entry(result, self.server, receipt, error))
            except AuditError as exc:
                print(f"medrdf: warning: {exc}", file=sys.stderr)


def _pacs_server(text: str):
    from .pacs import load_config

    config = load_config()
    return config, config.resolve(text)


def _calling_aet(args: argparse.Namespace, config: Any) -> str:
    from .pacs.servers import check_ae_title

    return check_ae_title(args.aet or config.calling_aet, "calling AE title")


def cmd_pacs(args: argparse.Namespace) -> int:
    """``medrdf pacs echo|find|get|servers``. A PacsError is one line and exit 1 (2 for a malformed argument)."""
    from .pacs import PacsError
    from .pacs.errors import INVALID

    try:
        return _pacs(args)
    except PacsError as exc:
        raise CliError(str(exc), EXIT_USAGE if exc.kind == INVALID else EXIT_FAILURE) from None


def _pacs(args: argparse.Namespace) -> int:
    from .pacs import (SeriesStore, StudyQuery, echo, find_studies, load_config, parse_address, retrieve_study,
                       save_config)
    from .pacs.servers import check_ae_title

    if args.pacs_command == "servers":
        config = load_config()
        if args.add:
            server = parse_address(args.add[1])
            config = config.with_server(type(server)(server.ae_title, server.host, server.port, name=args.add[0]))
        if args.remove:
            if args.remove not in {s.name for s in config.servers}:
                raise CliError(f"No configured server is named '{args.remove}'.", EXIT_USAGE)
            config = config.without_server(args.remove)
        if args.calling_aet:
            config.calling_aet = check_ae_title(args.calling_aet, "calling AE title")
        if args.add or args.remove or args.calling_aet:
            print(f"saved {save_config(config)}", file=sys.stderr)
        print(f"calling AE title: {config.calling_aet}")
        for server in config.servers:
            print(f"{server.name:16s} {server.address}")
        return EXIT_OK
    config, server = _pacs_server(args.server)
    calling = _calling_aet(args, config)
    timeout = config.timeout_s if args.timeout is None else args.timeout
    if not 0 < timeout <= 3600:
        raise CliError("--timeout must lie between 0 and 3600 seconds.", EXIT_USAGE)
    if args.pacs_command == "echo":
        seconds = echo(server, calling, timeout=timeout)
        print(f"{server}: DICOM echo answered in {1000 * seconds:.0f} ms (calling AE title {calling}).")
        return EXIT_OK
    if args.pacs_command == "find":
        if args.limit < 1:
            raise CliError("--limit must be at least 1.", EXIT_USAGE)
        query = StudyQuery(patient_id=args.patient_id, patient_name=args.patient_name, date_from=args.date_from,
                           date_to=args.date_to, modality=args.modality, accession_number=args.accession,
                           study_uid=args.study_uid)
        found = find_studies(server, calling, query, timeout=timeout, limit=args.limit)
        for match in found.matches:
            if args.json:
                print(json.dumps(match.to_dict(), ensure_ascii=False), flush=True)
            else:
                print(f"{match.study_date or '--------'}  {match.patient_name or '(no name)'}  [{match.patient_id}]  "
                      f"{'/'.join(match.modalities) or '-'}  {match.instance_count if match.instance_count is not None else '?'} image(s)  "
                      f"{match.description}\n    StudyInstanceUID {match.study_uid}")
        if found.truncated:
            print(f"medrdf: more than {args.limit} studies match; only the first {args.limit} are listed (narrow the "
                  "query).", file=sys.stderr)
        elif not args.json:
            print(f"{len(found.matches)} stud{'y' if len(found.matches) == 1 else 'ies'} found.", file=sys.stderr)
        return EXIT_OK
    # get
    store = SeriesStore(args.out)
    show = sys.stderr.isatty()

    def progress(series: int, total_series: int, done: int, total: int) -> None:
        if show:
            print(f"\rseries {series + 1}/{total_series}: {done}/{total} image(s)", end="", file=sys.stderr, flush=True)

    got = retrieve_study(server, calling, args.study_uid, store, series_uids=args.series, timeout=timeout,
                         progress=progress, use_cache=False)
    if show:
        print(file=sys.stderr)
    for item in got:
        if args.json:
            print(json.dumps({"StudyInstanceUID": item.study_uid, "SeriesInstanceUID": item.series_uid,
                              "folder": str(item.folder), "images": item.count}), flush=True)
        else:
            print(f"{item.folder}  ({item.count} image{'s' if item.count != 1 else ''})")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from . import paths
    from .modelzoo import available_cards
    from .modelzoo.scope import describe as describe_scope
    from .robust.squeeze import describe as describe_detector
    from .robust.validation import protection_summary

    cards = available_cards()
    if not cards:
        print(f"No models installed in {paths.models_dir()}.")
        return EXIT_OK
    for card in cards:
        acc = card.metrics.get("test", {}).get("accuracy")
        acc_text = f"test accuracy {100 * acc:.1f} %" if isinstance(acc, (int, float)) else "no test metrics"
        print(f"{card.name:20s} {card.architecture:10s} {len(card.classes)} classes  {acc_text}  sha256 {card.sha256[:12]}…"
              f"\n{'':20s} {protection_summary(card)}\n{'':20s} {describe_scope(card.scope)}"
              f"\n{'':20s} {describe_detector(card.detector)}")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .training.recipes import RECIPES
    from .training.run import train

    if args.recipe not in RECIPES:
        raise CliError(f"Unknown recipe '{args.recipe}' (known: {', '.join(RECIPES)}).", EXIT_USAGE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return train(args.recipe, out_dir=args.out, data_dir=args.data_dir, run_dir=args.run_dir,
                 limit_per_class=args.limit_per_class, threads=args.threads, export=not args.no_export,
                 export_as=args.export_as)


def _fit_target(args: argparse.Namespace, splits: tuple[str, ...]) -> tuple[Any, Path]:
    """The model (loaded without its scope) and the data root a fit command works on, refusing a bad --rate, an
    unknown model or a data root without ``splits``."""
    from . import paths
    from .modelzoo import ModelNotFoundError, load_model
    from .modelzoo.scope_fit import dataset_of

    if not 0 < args.rate < 1:
        raise CliError("--rate must lie between 0 and 1.", EXIT_USAGE)
    try:
        model = load_model(args.model, with_scope=False)
        dataset = args.dataset or dataset_of(model)
    except (ModelNotFoundError, ValueError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    root = (args.data_dir or paths.data_dir()) / dataset
    if not all((root / split).is_dir() for split in splits):
        raise CliError(f"{root} has no {' and '.join(f'{split}/' for split in splits)} split"
                       f"{'s' if len(splits) > 1 else ''}.", EXIT_USAGE)
    return model, root


def _save_card(card: Any) -> None:
    """Write a model card back to its file, as one sentence when that fails."""
    if card.path is None:
        raise CliError("The model card has no file to update.", EXIT_FAILURE)
    try:
        card.save(card.path)
    except OSError as exc:
        raise CliError(f"Cannot write the model card {card.path}: {exc.strerror or exc}.", EXIT_FAILURE) from None


def cmd_scope(args: argparse.Namespace) -> int:
    import torch

    from .modelzoo.scope import describe
    from .modelzoo.scope_fit import fit_scope, save_scope

    if args.threads:
        torch.set_num_threads(args.threads)
    model, root = _fit_target(args, ("train", "val"))
    given = (("dataset", args.dataset), ("layers", args.layers), ("domain", args.domain))
    command = shlex.join(["medrdf", "scope", "fit", model.name, "--method", args.method, "--rate", f"{args.rate:g}",
                          *(part for flag, value in given if value for part in (f"--{flag}", value))])

    def progress(split: str, done: int, total: int) -> None:
        if done >= total or done % 640 == 0:
            print(f"{model.name} {split}: {done}/{total} images", file=sys.stderr, flush=True)

    try:
        layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
        fit = fit_scope(model, root, method=args.method, layers=layers, rate=args.rate, domain=args.domain,
                        batch_size=args.batch_size, command=command, progress=progress)
        card_path = save_scope(model, fit)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CliError(f"Cannot write the scope of {model.name}: {exc.strerror or exc}.", EXIT_FAILURE) from None
    print(f"{card_path}: {describe(model.card.scope)}")
    return EXIT_OK


def cmd_detector(args: argparse.Namespace) -> int:
    import torch

    from .robust.squeeze import describe, fit_detector

    if args.threads:
        torch.set_num_threads(args.threads)
    model, root = _fit_target(args, ("val",))
    command = shlex.join(["medrdf", "detector", "fit", model.name, "--rate", f"{args.rate:g}",
                          *(["--dataset", args.dataset] if args.dataset else [])])
    try:
        model.card.detector = fit_detector(model, root, rate=args.rate, batch_size=args.batch_size, command=command)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    _save_card(model.card)
    print(f"{model.card.path}: {describe(model.card.detector)}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .attacks import parse_attacks
    from .attacks.evaluate import Evaluation, parse_defences
    from .modelzoo import DEFAULT_MODEL, ModelNotFoundError, load_model
    from .robust import EngineError, RobustSettings, SettingsError
    from .robust.device import resolve_device
    from .robust.settings import DENOISERS, NOISES

    noises, denoisers = args.noises.split(","), args.denoisers.split(",")
    pairs = None
    if args.defences:
        pairs = [tuple(p.strip().split("+", 1)) for p in args.defences.split(",") if p.strip()]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise CliError("--defences takes NOISE+DENOISER pairs, e.g. salt-pepper+median.", EXIT_USAGE)
        noises, denoisers = [p[0] for p in pairs], [p[1] for p in pairs]
    bad = [x for x in noises if x not in NOISES] + [x for x in denoisers if x not in DENOISERS]
    if bad:
        raise CliError(f"Unknown noise/denoiser: {', '.join(bad)}.", EXIT_USAGE)
    try:
        attacks = parse_attacks(args.attacks)
        settings = RobustSettings(sigma=args.sigma, kernel=args.kernel, n=args.n, alpha=args.alpha,
                                  threshold=args.threshold, batch_size=args.batch_size, device=args.device,
                                  sampling=args.sampling, backend=args.backend, precision=args.precision).validate()
        sigmas = None
        if args.sigmas:
            try:
                sigmas = [float(v) for v in args.sigmas.split(",") if v.strip()]
            except ValueError:
                raise CliError(f"--sigmas takes numbers separated by commas, not {args.sigmas!r}.", EXIT_USAGE) from None
        defences = parse_defences(noises, denoisers, int(settings.kernel), args.smoothing_sigma, pairs, sigmas)
        for d in defences:  # refuse a bad size or level now, not hours into the run
            d.settings_for(settings).validate()
        device = resolve_device(settings.device)
        model = load_model(args.model or DEFAULT_MODEL, device=device)
    except (ValueError, SettingsError, EngineError, ModelNotFoundError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if not args.data.is_dir():
        raise CliError(f"{args.data} is not a folder.", EXIT_USAGE)
    if args.attack_batch < 1:
        raise CliError("--attack-batch must be at least 1.", EXIT_USAGE)
    try:
        evaluation = Evaluation(model, args.data, attacks, defences, settings, args.eps / 255.0,
                                args.out, limit=args.limit, seed=args.seed or 0)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    evaluation.run(attack_batch=args.attack_batch)
    _, md_path = evaluation.write_tables()
    print(md_path.read_text(), end="")
    if args.update_card:
        _update_card(model.card, evaluation.defence_entries(), evaluation.robustness_entries())
    return EXIT_OK


def _update_card(card: Any, entries: list[dict], robustness: list[dict]) -> None:
    """Merge measured defence settings and worst-case accuracies into the model card file (the weights and their
    hash are untouched)."""
    if card.path is None:  # before merging: a card that cannot be written is not changed in memory either
        raise CliError("The model card has no file to update.", EXIT_FAILURE)
    changed = card.merge_defences(entries)
    measured = card.merge_robustness(robustness)
    _save_card(card)
    print(f"model card {card.path}: {changed} validated-defence entr{'y' if changed == 1 else 'ies'} and "
          f"{measured} robustness entr{'y' if measured == 1 else 'ies'} recorded", file=sys.stderr)


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .modelzoo import DEFAULT_MODEL, ModelNotFoundError, load_model
    from .robust import EngineError, SettingsError
    from .robust.bench import benchmark

    try:
        settings = _settings_from(args)
        model = load_model(args.model or DEFAULT_MODEL)
    except (SettingsError, EngineError, ModelNotFoundError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.image:
        x = model.input_tensor(args.image)
    else:  # a smooth, non-patient test pattern of the model's input shape
        c, (h, w) = model.card.channels, model.card.input_size
        yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
        x = (0.5 + 0.4 * torch.sin(6 * xx) * torch.cos(4 * yy)).expand(1, c, h, w).contiguous()
    report = benchmark(model, x, settings, n=args.n, repeats=args.repeats)
    print(json.dumps(report.to_dict()) if args.json else report.text())
    return EXIT_OK


NOISE_TABLE_KINDS = ("noise-accuracy", "noise-balanced")


def cmd_noise_accuracy(args: argparse.Namespace) -> int:
    import time

    from .attacks.noise_accuracy import NoiseAccuracy, make_settings, markdown
    from .modelzoo import DEFAULT_MODEL, ModelNotFoundError, load_model
    from .robust import EngineError, SettingsError
    from .robust.device import resolve_device

    if not args.data.is_dir():
        raise CliError(f"{args.data} is not a folder.", EXIT_USAGE)
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1.", EXIT_USAGE)
    try:
        settings = make_settings([x.strip() for x in args.noises.split(",") if x.strip()],
                                 [x.strip() for x in args.denoisers.split(",") if x.strip()],
                                 args.kernel, args.smoothing_sigma)
        device = resolve_device(args.device)
        model = load_model(args.model or DEFAULT_MODEL, device=device)
        run = NoiseAccuracy(model, args.data, settings, args.sigma, args.copies, args.out, limit=args.limit,
                            seed=args.seed, batch_size=args.batch_size, backend=args.backend,
                            precision=args.precision)
    except FileNotFoundError as exc:
        raise CliError(f"{args.data} lacks a class folder of the model: {exc.filename}.", EXIT_USAGE) from None
    except (ValueError, SettingsError, EngineError, ModelNotFoundError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    started = time.perf_counter()
    try:
        written = run.run()
    except OSError as exc:
        raise CliError(f"Cannot write {run.records_path}: {exc.strerror or exc}.", EXIT_FAILURE) from None
    elapsed = time.perf_counter() - started
    records = run.records()
    text = markdown(records) + ("\n" + markdown(records, balanced=True) if args.balanced else "")
    text += f"\nModel {model.name} ({model.sha256[:12]}…).\n"
    try:
        (args.out / "table.md").write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot write {args.out / 'table.md'}: {exc.strerror or exc}.", EXIT_FAILURE) from None
    print(text, end="")
    print(f"{written} record{'s' if written != 1 else ''} written in {elapsed:.1f} s "
          f"({len(run.files)} images; {run.records_path})", file=sys.stderr)
    return EXIT_OK


def _noise_tables(args: argparse.Namespace, kinds: list[str]) -> int:
    """`medrdf tables --kind noise-accuracy[,noise-balanced]`: TABLE VI from `medrdf noise-accuracy` records."""
    from .attacks import noise_accuracy

    try:
        records = noise_accuracy.load_records(args.records)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"Cannot read the records: {exc}.", EXIT_USAGE) from None
    if not records:
        raise CliError("The records files hold no records.", EXIT_USAGE)
    out = [noise_accuracy.markdown(records, balanced=kind == "noise-balanced") for kind in kinds]
    print("\n".join(out), end="")
    return EXIT_OK


def cmd_tables(args: argparse.Namespace) -> int:
    from .attacks import tables

    kinds = [k.strip() for k in args.kind.split(",") if k.strip()]
    known = ("accuracy", "balanced", "single-draw", "ix", "flips", "alerts", "scope", "squeeze", "roc",
             *NOISE_TABLE_KINDS)
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise CliError(f"Unknown table kind(s): {', '.join(unknown)} (known: {', '.join(known)}).", EXIT_USAGE)
    missing = [str(p) for p in args.records if not p.is_file()]
    if missing:
        raise CliError(f"No such records file: {', '.join(missing)}.", EXIT_USAGE)
    noise_kinds = [k for k in kinds if k in NOISE_TABLE_KINDS]
    if noise_kinds:
        if len(noise_kinds) != len(kinds):
            raise CliError("noise-accuracy and noise-balanced read `medrdf noise-accuracy` records; ask for them "
                           "without the evaluation tables.", EXIT_USAGE)
        return _noise_tables(args, noise_kinds)
    try:
        records = tables.load_records(args.records)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"Cannot read the records: {exc}.", EXIT_USAGE) from None
    if args.with_detectors:
        records = tables.with_detectors(records, args.row)
    flagged = [r for r in records if r["row"] == args.row and "verdict" in r]
    if not flagged:
        raise CliError(f"No records of row '{args.row}' carry the final flag (records older than it cannot be "
                       "re-tabulated; rerun the evaluation).", EXIT_USAGE)
    if args.attacks:
        attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    else:
        seen = list(dict.fromkeys(r["attack"] for r in flagged))
        attacks = sorted(seen, key=lambda a: a != tables.NATURAL)
    out = []
    if "accuracy" in kinds:
        out += ["Accuracy in % (images counted); worst case: right under every attack of the row", "",
                tables.markdown(*tables.accuracy_table(records, attacks)), ""]
    if "balanced" in kinds:
        out += ["Class-balanced accuracy in % (mean of per-class accuracies; images counted); worst case: right "
                "under every attack of the row", "", tables.markdown(*tables.accuracy_table(records, attacks, True)), ""]
    if "single-draw" in kinds:
        out += ["One random draw instead of the vote (mean share of copies naming the true class; images counted)",
                "", tables.markdown(*tables.accuracy_table(records, attacks, value="p_label")), ""]
    if "ix" in kinds:
        out += ["TABLE IX (shares in % of each test set)", "", tables.markdown(*tables.table_ix(records, args.row, attacks)), ""]
    if "flips" in kinds:
        f = tables.silent_flips(records, args.row, attacks)
        attacked = [a for a in attacks if a != tables.NATURAL]
        if not f.images:
            out += [f"Silent flips: no image has a record for natural and every attack listed ({', '.join(attacks)}).", ""]
        elif not attacked:
            out += [f"Silent flips: no attack in these records; clean, {f.images} images: "
                    f"{f.clean_correct_accepted:.1f} % correct and ACCEPT.", ""]
        else:
            out += [f"Silent flips, worst attack per image ({', '.join(attacked)}), {f.images} images: {f.silent:.1f} % "
                    f"silent (wrong and ACCEPT), {f.wrong:.1f} % wrong under some attack; clean: "
                    f"{f.clean_correct_accepted:.1f} % correct and ACCEPT.", ""]
    if "alerts" in kinds:
        out += ["Alerts as detectors: % of wrong attacked diagnoses flagged (count), false alarms on clean correct "
                "images", "", tables.markdown(*tables.alert_detection(records, args.row, attacks)), ""]
    if "scope" in kinds or "squeeze" in kinds or "roc" in kinds:
        card = None
        if args.model:
            from .modelzoo import ModelNotFoundError, resolve_card

            try:
                card = resolve_card(args.model)
            except ModelNotFoundError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
        for kind, field, entry, what in (("scope", "ood_score", "scope", "Out-of-scope score"),
                                         ("squeeze", "squeeze_score", "detector", "Feature-squeezing statistic")):
            threshold = (getattr(card, entry, None) or {}).get("threshold") if card is not None else None
            if kind in kinds:
                out += [f"{what} of the image each vote saw, per attack (share above the card's threshold, count)",
                        "", tables.markdown(*tables.score_table(records, args.row, attacks, field, threshold)), ""]
            if "roc" in kinds:
                out += [f"{what} as a detector: wrong attacked images against clean correct ones (%)", "",
                        tables.markdown(*tables.roc_table(records, args.row, attacks, field, threshold)), ""]
    print("\n".join(out), end="")
    return EXIT_OK


COMMANDS = {"predict": cmd_predict, "models": cmd_models, "train": cmd_train, "evaluate": cmd_evaluate,
            "bench": cmd_bench, "tables": cmd_tables, "noise-accuracy": cmd_noise_accuracy, "scope": cmd_scope,
            "detector": cmd_detector, "pacs": cmd_pacs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(f"medrdf: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("medrdf: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: one line, no traceback
        if os.environ.get("MEDRDF_DEBUG"):
            raise
        from .imaging import StudyLoadError
        from .modelzoo import ModelLoadError
        from .robust import EngineError

        if isinstance(exc, (ModelLoadError, EngineError, StudyLoadError)):
            print(f"medrdf: {exc}", file=sys.stderr)
        else:
            print(f"medrdf: internal error ({type(exc).__name__}); rerun with MEDRDF_DEBUG=1 for details.", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
