"""`medrdf noise-accuracy` (the paper's TABLE VI): records written and resumed, the accuracy arithmetic on a
hand-made records file, σ = 0 equal to the clean accuracy, and one-line errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from medrdf_gui.attacks import noise_accuracy
from medrdf_gui.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _measure(capsys, data: Path, card: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "noise-accuracy", "--data", str(data), "--model", str(card), "--backend", "torch",
                "--out", str(out), *extra)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_records_are_written_then_resumed_with_the_same_draws(capsys, tmp_path: Path, data_dir: Path,
                                                              tiny_model_card: Path) -> None:
    split = data_dir / "cxr3" / "test"
    args = ("--noises", "gaussian,salt-pepper", "--denoisers", "none,median", "--copies", "4", "--limit", "3")
    code, out, err = _measure(capsys, split, tiny_model_card, tmp_path, *args)
    assert code == 0, err
    path = tmp_path / "records.jsonl"
    first = _records(path)
    assert len(first) == 3 * (1 + 4)  # per image: natural + 2 noises × 2 denoisers
    assert {r["file"] for r in first} == {"covid/COVID-1006.png", "normal/" + sorted(
        p.name for p in (split / "normal").iterdir())[0], "viral_pneumonia/" + sorted(
        p.name for p in (split / "viral_pneumonia").iterdir())[0]}
    for r in first:
        assert r["data"] == "cxr3/test" and r["model"] == "tiny-untrained"
        assert len(r["preds"]) == r["copies"] == (1 if r["setting"] == "natural" else 4)
        assert r["correct"] == sum(p == r["label"] for p in r["preds"])
        assert r["kernel"] == {"none": 0, "median": 3}[r["denoiser"]]
    assert "| Model | Images | Natural | Gaussian: None | Gaussian: MF | S&P: None | S&P: MF |" in out
    assert "MF: 3×3 median filter" in out and (tmp_path / "table.md").read_text() == out

    code, _, err = _measure(capsys, split, tiny_model_card, tmp_path, *args)
    assert code == 0 and "0 records written" in err and len(_records(path)) == len(first)

    path.write_text("".join(json.dumps(r) + "\n" for r in first[:7]))  # a run stopped part-way
    code, _, err = _measure(capsys, split, tiny_model_card, tmp_path, *args)
    assert code == 0 and f"{len(first) - 7} records written" in err
    key = lambda r: (r["file"], r["setting"])  # noqa: E731
    assert sorted(_records(path), key=key) == sorted(first, key=key)  # resumed copies drawn as a fresh run's

    code, _, err = _measure(capsys, split, tiny_model_card, tmp_path, *args[:-4], "--copies", "5", "--limit", "3")
    assert code == 2 and "Use another --out" in err and len(err.strip().splitlines()) == 1


def test_without_noise_every_copy_is_the_clean_prediction(capsys, tmp_path: Path, data_dir: Path,
                                                          tiny_model_card: Path) -> None:
    code, out, err = _measure(capsys, data_dir / "cxr3" / "test", tiny_model_card, tmp_path, "--sigma", "0",
                              "--denoisers", "none", "--copies", "3", "--limit", "6")
    assert code == 0, err
    records = _records(tmp_path / "records.jsonl")
    clean = {r["file"]: r["preds"][0] for r in records if r["setting"] == "natural"}
    noisy = [r for r in records if r["setting"] != "natural"]
    assert len(clean) == 6 and len(noisy) == 18
    assert all(r["preds"] == [clean[r["file"]]] * 3 for r in noisy)
    row = next(line for line in out.splitlines() if line.startswith("| tiny-untrained"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(set(cells[2:])) == 1  # natural = gaussian = salt-and-pepper = poisson


def _hand_made(path: Path) -> None:
    def rec(model, file, label, setting, copies, correct):
        noise, _, denoiser = setting.partition("+")
        return {"model": model, "data": "toy/test", "file": file, "label": label, "setting": setting,
                "noise": noise or None, "denoiser": denoiser or "none", "sigma": 0.1 if denoiser else 0.0,
                "kernel": {"median": 3, "gaussian": 1.0}.get(denoiser, 0), "copies": copies,
                "preds": [], "correct": correct}

    rows = [rec("m", "a/1.png", 0, "natural", 1, 1), rec("m", "a/2.png", 0, "natural", 1, 1),
            rec("m", "b/1.png", 1, "natural", 1, 0),
            rec("m", "a/1.png", 0, "gaussian+none", 10, 10), rec("m", "a/2.png", 0, "gaussian+none", 10, 5),
            rec("m", "b/1.png", 1, "gaussian+none", 10, 0),
            rec("m", "a/1.png", 0, "salt-pepper+median", 10, 9), rec("m", "b/1.png", 1, "salt-pepper+median", 10, 6),
            rec("m", "a/1.png", 0, "gaussian+none", 10, 2),  # an earlier record of the same cell: replaced below
            rec("m", "a/1.png", 0, "gaussian+none", 10, 10),
            rec("n", "a/1.png", 0, "natural", 1, 0), rec("n", "b/1.png", 1, "natural", 1, 1),
            rec("n", "a/1.png", 0, "gaussian+gaussian", 10, 3), rec("n", "b/1.png", 1, "gaussian+gaussian", 10, 7)]
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def test_tables_compute_plain_and_balanced_accuracy_from_records(capsys, tmp_path: Path) -> None:
    path = tmp_path / "toy.records.jsonl.gz"
    _hand_made(path)
    code, out, err = _run(capsys, "tables", str(path), "--kind", "noise-accuracy,noise-balanced")
    assert code == 0, err
    plain, balanced = out.split("Accuracy in %")[0], out.split("Accuracy in %")[1]
    header = "| Model | Images | Natural | Gaussian: None | Gaussian: GS | S&P: MF |"
    assert header in plain and header in balanced
    # m: natural 2/3; gaussian 15/30; s&p (9 + 6)/20 on 2 of 3 images. n: natural 1/2; GS 10/20; no other cells
    assert "| m | 3 | 66.7 | 50.0 | — | 75.0 (2) |" in plain
    assert "| n | 2 | 50.0 | — | 50.0 | — |" in plain
    # balanced: m natural (1 + 0)/2; gaussian (15/20 + 0/10)/2; s&p (0.9 + 0.6)/2. n: (0 + 1)/2, (0.3 + 0.7)/2
    assert "| m | 3 | 50.0 | 37.5 | — | 75.0 (2) |" in balanced
    assert "| n | 2 | 50.0 | — | 50.0 | — |" in balanced
    assert "GS: gaussian smoothing σ = 1 px; MF: 3×3 median filter" in out
    records = noise_accuracy.load_records([path])
    assert noise_accuracy.accuracy([r for r in records if r["model"] == "m" and r["setting"] == "gaussian+none"]) \
        == pytest.approx(50.0)


def test_user_errors_exit_2_with_one_line(capsys, tmp_path: Path, data_dir: Path, tiny_model_card: Path) -> None:
    code, out, err = _measure(capsys, tmp_path / "no-such-split", tiny_model_card, tmp_path / "out")
    assert code == 2 and "is not a folder" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    code, _, err = _measure(capsys, data_dir / "cxr3" / "test", tiny_model_card, tmp_path / "out", "--noises", "hum")
    assert code == 2 and "Unknown noise/denoiser: hum" in err
    code, _, err = _measure(capsys, data_dir / "cxr3" / "test", tiny_model_card, tmp_path / "out", "--kernel", "4")
    assert code == 2 and "odd window" in err
    (tmp_path / "flat").mkdir()
    code, _, err = _measure(capsys, tmp_path / "flat", tiny_model_card, tmp_path / "out")
    assert code == 2 and "lacks a class folder" in err
    evaluation = tmp_path / "evaluate.jsonl"
    evaluation.write_text(json.dumps({"file": "x.png", "attack": "natural", "row": "Base model", "label": 0}) + "\n")
    code, _, err = _run(capsys, "tables", str(evaluation), "--kind", "noise-accuracy")
    assert code == 2 and "not a `medrdf noise-accuracy` record" in err
    code, _, err = _run(capsys, "tables", str(evaluation), "--kind", "noise-accuracy,ix")
    assert code == 2 and "without the evaluation tables" in err
