"""`medrdf predict`: JSON keys, human summary, exit codes, several files and folders, no tracebacks."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from medrdf_gui.cli import build_parser, main

REQUIRED_KEYS = {
    "diagnosis", "label", "abstained", "counts", "n", "n_a", "n_b", "p_value", "rm", "rm_threshold", "verdict",
    "pa_lower_bound", "base_diagnosis", "base_probabilities", "settings", "model", "device", "elapsed_s", "warnings",
}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_has_every_key(capsys, cxr_png: Path, tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "200", "--seed", "3",
                          "--sampling", "fixed", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert REQUIRED_KEYS <= obj.keys()
    assert {"noise", "sigma", "denoiser", "n", "alpha", "batch_size", "seed", "backend", "precision"} <= obj["settings"].keys()
    assert obj["settings"]["seed"] == 3 and obj["n"] == 200 and sum(obj["counts"].values()) == 200
    assert obj["model"]["name"] == "tiny-untrained" and len(obj["model"]["sha256"]) == 64
    assert obj["verdict"] in ("accept", "re-evaluate") and obj["path"] == str(cxr_png)


def test_predict_human_summary(capsys, cxr_png: Path, tiny_model_card: Path) -> None:
    code, out, _ = _run(capsys, "predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "100", "--seed", "1")
    assert code == 0
    assert "MedRDF diagnosis" in out and "base model" in out and "votes" in out


def test_folder_and_failures_continue_then_exit_2(capsys, tmp_path: Path, cxr_png: Path, dicom_dir: Path, tiny_model_card: Path) -> None:
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "a.png").write_bytes(cxr_png.read_bytes())
    (folder / "b.dcm").write_bytes((dicom_dir / "rtplan_nonimage.dcm").read_bytes())
    (folder / "c.png").write_bytes(b"")
    code, out, err = _run(capsys, "predict", str(folder), "--model", str(tiny_model_card), "--n", "50", "--seed", "0", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(o["path"]).name for o in lines] == ["a.png", "b.dcm", "c.png"]
    assert "diagnosis" in lines[0] and "error" in lines[1] and "error" in lines[2]
    assert code == 2 and err.count("\n") == 2


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--n", "5"], 2, "below n = 11"),
        (["--sigma", "3"], 2, "σ"),
        (["--model", "no-such-model"], 2, "not found"),
        (["--device", "tpu"], 2, "device"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, cxr_png: Path, tiny_model_card: Path, args, code, message) -> None:
    base = ["predict", str(cxr_png)]
    if "--model" not in args:
        base += ["--model", str(tiny_model_card)]
    rc, out, err = _run(capsys, *base, *args)
    assert rc == code and message in err and err.count("\n") == 1 and out == ""


def test_tampered_model_exits_1(capsys, tmp_path: Path, cxr_png: Path, tiny_model_card: Path) -> None:
    for f in tiny_model_card.parent.glob("tiny-untrained.*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    weights = tmp_path / "tiny-untrained.safetensors"
    weights.write_bytes(weights.read_bytes() + b"x")
    rc, _, err = _run(capsys, "predict", str(cxr_png), "--model", str(tmp_path / "tiny-untrained.json"), "--n", "20")
    assert rc == 1 and "sha256" in err and str(weights) in err


def test_real_process_prints_no_traceback(tmp_path: Path, tiny_model_card: Path) -> None:
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"\x00" * 10)
    proc = subprocess.run([sys.executable, "-m", "medrdf_gui.cli", "predict", str(bad), "--model", str(tiny_model_card), "--n", "20"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_models_lists_installed_cards(capsys, monkeypatch, tiny_model_card: Path) -> None:
    monkeypatch.setenv("MEDRDF_MODELS_DIR", str(tiny_model_card.parent))
    rc, out, _ = _run(capsys, "models")
    assert rc == 0 and "tiny-untrained" in out


def test_adaptive_sampling_is_the_default_and_reports_n_used(capsys, cxr_png: Path, tiny_model_card: Path) -> None:
    assert build_parser().parse_args(["predict", "x.png"]).sampling == "adaptive"
    assert build_parser().parse_args(["predict", "x.png"]).n == 10_000  # the paper's n, now the cap
    code, out, _ = _run(capsys, "predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "2000",
                        "--seed", "0", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["sampling"] == "adaptive" and obj["n"] == 2000
    assert obj["n_used"] == sum(obj["counts"].values()) <= 2000
    assert len(obj["image_sha256"]) == 64


def test_backend_option_reaches_the_result(capsys, cxr_png: Path, tiny_model_card: Path) -> None:
    code, out, _ = _run(capsys, "predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "50", "--seed", "0",
                        "--backend", "torch", "--precision", "fp32", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["device"].startswith("cpu (torch fp32, ") and obj["settings"]["backend"] == "torch"
    code, _, err = _run(capsys, "predict", str(cxr_png), "--model", str(tiny_model_card), "--backend", "onnxruntime",
                        "--precision", "bf16")
    assert code == 2 and "fp32 only" in err


def test_evaluate_prints_the_table(capsys, tmp_path: Path, data_dir: Path, tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--attacks", "fgsm", "--n", "20", "--batch-size", "20", "--limit", "3", "--out", str(tmp_path))
    assert code == 0, err
    assert "| Model | Natural | FGSM |" in out and "MedRDF salt-pepper + MF" in out
    assert (tmp_path / "table.csv").is_file() and (tmp_path / "records.jsonl").is_file()


def test_evaluate_refuses_to_resume_the_records_of_another_run(capsys, tmp_path: Path, data_dir: Path,
                                                                tiny_model_card: Path) -> None:
    """records.jsonl is keyed by file, attack and row only: run.json beside it keeps a resumed run from mixing
    another budget, vote or model into the same table."""
    base = ["evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card), "--attacks", "fgsm",
            "--n", "20", "--batch-size", "20", "--limit", "3", "--out", str(tmp_path)]
    assert _run(capsys, *base)[0] == 0
    assert json.loads((tmp_path / "run.json").read_text())["epsilon"] == 8.0
    lines = (tmp_path / "records.jsonl").read_text()
    code, _, err = _run(capsys, *base, "--eps", "4")
    assert code == 2 and "holds the records of another run (epsilon 8.0 there, 4.0 now)" in err
    assert "Traceback" not in err and (tmp_path / "records.jsonl").read_text() == lines  # nothing added
    assert _run(capsys, *base)[0] == 0  # the same run resumes (here: finds everything done)


def test_evaluate_gives_each_denoiser_its_own_size(capsys, tmp_path: Path, data_dir: Path,
                                                   tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--attacks", "fgsm", "--denoisers", "none,gaussian,median", "--smoothing-sigma", "0.8",
                          "--n", "20", "--batch-size", "20", "--limit", "1", "--out", str(tmp_path))
    assert code == 0, err
    assert all(f"MedRDF salt-pepper + {d}" in out for d in ("none", "GS", "MF"))
    assert "MF window 3×3, GS σ = 0.8 px" in out
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert {r["row"]: r.get("kernel") for r in records if r["row"] != "Base model"} == {
        "MedRDF salt-pepper + none": 0, "MedRDF salt-pepper + GS": 0.8, "MedRDF salt-pepper + MF": 3}


def test_evaluate_defences_name_exact_rows(capsys, tmp_path: Path, data_dir: Path, tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--attacks", "fgsm", "--defences", "salt-pepper+median,resize-pad+none",
                          "--n", "20", "--batch-size", "20", "--limit", "1", "--out", str(tmp_path))
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert {r["row"] for r in records} == {"Base model", "MedRDF salt-pepper + MF", "Random R-P (vote)"}
    for bad in ("salt-pepper", "salt-pepper+blur"):
        code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model",
                              str(tiny_model_card), "--defences", bad, "--out", str(tmp_path / "bad"))
        assert code == 2 and ("NOISE+DENOISER" in err or "Unknown noise/denoiser: blur" in err)
        assert not (tmp_path / "bad" / "records.jsonl").exists()


def test_evaluate_refuses_a_bad_smoothing_sigma_before_running(capsys, tmp_path: Path, data_dir: Path,
                                                               tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--denoisers", "gaussian", "--smoothing-sigma", "25", "--out", str(tmp_path))
    assert code == 2 and "σ must lie in (0, 10]" in err and not (tmp_path / "records.jsonl").exists()


def test_evaluate_with_adaptive_sampling_and_attack_batches(capsys, tmp_path: Path, data_dir: Path,
                                                             tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--attacks", "fgsm", "--n", "400", "--batch-size", "50", "--sampling", "adaptive",
                          "--attack-batch", "2", "--limit", "3", "--out", str(tmp_path))
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    used = [r["n_used"] for r in records if r["row"] != "Base model"]
    from medrdf_gui.robust.sequential import earliest_settle

    first = earliest_settle(3, 0.0005, 1.0, 50)  # the first check, then every batch of 50, up to the cap
    assert len(used) == 6 and all(u == 400 or (first <= u < 400 and (u - first) % 50 == 0) for u in used)
    assert f"n ≤ 400 (adaptive: each vote stops once its verdict is settled; {sum(used) / 6:,.0f} copies" in out


def test_evaluate_refuses_an_empty_attack_batch(capsys, tmp_path: Path, data_dir: Path, tiny_model_card: Path) -> None:
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                          "--attack-batch", "0", "--out", str(tmp_path))
    assert code == 2 and "--attack-batch" in err and not (tmp_path / "records.jsonl").exists()


def test_evaluate_update_card_records_the_validated_defences(capsys, tmp_path: Path, data_dir: Path) -> None:
    from medrdf_gui.modelzoo.card import ModelCard
    from medrdf_gui.modelzoo.testing import write_untrained_model

    card_path = write_untrained_model(tmp_path / "models", name="card-under-test")
    weights_before = (tmp_path / "models" / "card-under-test.safetensors").read_bytes()
    code, out, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(card_path),
                          "--attacks", "fgsm", "--denoisers", "none,median", "--n", "20", "--batch-size", "20",
                          "--limit", "3", "--update-card", "--out", str(tmp_path / "eval"))
    assert code == 0, err
    assert "2 validated-defence entries and 3 robustness entries recorded" in err
    card = ModelCard.load(card_path)
    assert [(e["denoiser"], e["images"], e["n"]) for e in card.defences] == [("none", 3, 20), ("median", 3, 20)]
    assert [(e["row"], e.get("denoiser"), e["images"], e["attacks"]) for e in card.robustness] == [
        ("base", None, 3, ["fgsm"]), ("medrdf", "none", 3, ["fgsm"]), ("medrdf", "median", 3, ["fgsm"])]
    worst_column = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in out.splitlines()
                    if line.startswith("| ")}
    assert float(worst_column["Base model"]) == card.robustness[0]["worst_case_accuracy"]
    assert card.robustness[0]["epsilon"] == pytest.approx(8 / 255)
    assert (tmp_path / "models" / "card-under-test.safetensors").read_bytes() == weights_before


def test_tables_rebuild_the_flag_tables_from_evaluation_records(capsys, tmp_path: Path, data_dir: Path,
                                                                tiny_model_card: Path) -> None:
    code, _, err = _run(capsys, "evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                        "--attacks", "fgsm", "--n", "20", "--batch-size", "20", "--limit", "3", "--out", str(tmp_path))
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    voted = [r for r in records if r["row"] != "Base model"]
    assert all({"pred", "rm", "rm_verdict", "verdict", "alerts", "base_label"} <= r.keys() for r in voted)
    code, out, err = _run(capsys, "tables", str(tmp_path / "records.jsonl"))
    assert code == 0, err
    assert "| Test set | Images | C.&R." in out and "| natural | 3 |" in out and "| fgsm | 3 |" in out
    assert "Silent flips, worst attack per image (fgsm), 3 images" in out and "| any alert |" in out
    code, _, err = _run(capsys, "tables", str(tmp_path / "records.jsonl"), "--row", "MedRDF gaussian + GS")
    assert code == 2 and "carry the final flag" in err
    code, _, err = _run(capsys, "tables", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "No such records file" in err


def test_evaluate_help_names_every_attack_the_registry_has() -> None:
    from medrdf_gui.attacks.registry import ATTACKS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = sub.choices["evaluate"].format_help().replace("\n", " ")
    missing = [name for name in ATTACKS if name != "natural" and name not in text.replace(" ", "")]
    assert not missing, f"evaluate --help does not name: {missing}"


def test_tables_roc_prints_each_scores_auroc(capsys, tmp_path: Path) -> None:
    def rec(file: str, attack: str, correct: bool, ood: float, squeeze: float) -> dict:
        return {"file": file, "attack": attack, "row": "MedRDF salt-pepper + MF", "label": 0, "correct": correct,
                "abstained": False, "pred": 0, "rm": 2.0, "rm_verdict": "accept", "verdict": "accept", "alerts": [],
                "base_label": 0, "ood_score": ood, "squeeze_score": squeeze}

    records = [rec("a", "natural", True, 1.0, 0.1), rec("b", "natural", True, 2.0, 0.2),
               rec("a", "pgd20", False, 3.0, 0.0), rec("b", "pgd20", False, 0.5, 0.9)]
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = _run(capsys, "tables", str(tmp_path / "records.jsonl"), "--kind", "roc")
    assert code == 0, err
    assert "Out-of-scope score as a detector" in out and "Feature-squeezing statistic as a detector" in out
    assert "| pgd20 | 2 | 2 | 0.500 |" in out  # ood: 3.0 beats both, 0.5 beats none
    assert "| pgd20 | 2 | 2 | 0.500 |" in out.split("Feature-squeezing")[1]  # squeeze: 0.9 beats both, 0.0 none
