"""`medrdf bench` on a tiny model: every figure present and sane (speed itself is never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from medrdf_gui.cli import main


def test_bench_json_reports_both_throughputs_and_stages(capsys, tiny_model_card: Path) -> None:
    code = main(["bench", "--model", str(tiny_model_card), "--n", "128", "--batch-size", "32", "--repeats", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["n"] == 128 and out["batch_size"] == 32 and out["repeats"] == 2
    for key in ("bare_images_per_s", "pipeline_images_per_s", "baseline_images_per_s"):
        spread = out[key]
        assert 0 < spread["low"] <= spread["median"] <= spread["high"]
    assert out["ratio"] > 0 and out["speedup"] > 0
    assert out["backend"] and out["backend"] in out["device"]  # e.g. "OpenVINO bf16", or "torch fp32"
    assert set(out["stage_ms_per_batch"]) == {"noise", "denoise", "classify", "vote"}


def test_bench_text_on_a_real_image(capsys, tiny_model_card: Path, cxr_png: Path) -> None:
    code = main(["bench", str(cxr_png), "--model", str(tiny_model_card), "--n", "64", "--repeats", "1"])
    text = capsys.readouterr().out
    assert code == 0 and "bare classifier" in text and "ratio pipeline/bare" in text


def test_bench_with_torch_backend_measures_today_s_classifier_twice(capsys, tiny_model_card: Path) -> None:
    code = main(["bench", "--model", str(tiny_model_card), "--n", "64", "--batch-size", "32", "--repeats", "1",
                 "--backend", "torch", "--precision", "fp32", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["backend"] == "torch fp32"
