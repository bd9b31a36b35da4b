"""The scope detector: a toy model flags images unlike its training data, the threshold keeps the in-distribution
flag rate on its calibration set, the statistics round-trip through a sha256-verified file, and the Result, its
JSON, the audit log, the CLI and the report carry the check; the out-of-scope alert overrules an ACCEPT."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pypdf import PdfReader
from safetensors.torch import save_file

from medrdf_gui import alerts
from medrdf_gui.audit import audit_entry
from medrdf_gui.cli import main
from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo import ModelCard, ModelLoadError, build_network, load_model, sha256_file
from medrdf_gui.modelzoo.architectures import NormalizedClassifier
from medrdf_gui.modelzoo.scope import (auroc, calibrate_threshold, classes_sentence, fit_gaussian, ledoit_wolf,
                                       stage_layers)
from medrdf_gui.modelzoo.scope_fit import features_and_logits, fit_scope, save_scope
from medrdf_gui.report import render_report
from medrdf_gui.report.content import statistics_rows
from medrdf_gui.robust import robust_predict

CLASSES = ["horizontal", "vertical"]
SIZE = 32
SETTINGS = {"n": 100, "seed": 0, "device": "cpu", "denoiser": "none"}
LAYERS = ["net.stem", "net.layer4"]  # TinyCNN has one stage named like ResNet's; the stem adds image statistics


def stripes(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Grey stripes of a random period, phase and contrast with a little noise: the toy's whole world."""
    period = rng.uniform(4, 9)
    coords = np.arange(SIZE)[:, None] if kind == "horizontal" else np.arange(SIZE)[None, :]
    wave = np.sin(2 * np.pi * coords / period + rng.uniform(0, 2 * np.pi))
    image = 0.5 + rng.uniform(0.2, 0.4) * wave + rng.normal(0, 0.03, (SIZE, SIZE))
    return np.clip(np.broadcast_to(image, (SIZE, SIZE)), 0, 1)


def out_of_distribution(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What the toy never saw: noise, flat grey levels, a disc, a checkerboard."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return {
        **{f"noise-{i}": rng.uniform(0, 1, (SIZE, SIZE)) for i in range(5)},
        **{f"flat-{v:.1f}": np.full((SIZE, SIZE), v) for v in (0.0, 0.3, 0.7, 1.0)},
        "disc": ((yy - 16) ** 2 + (xx - 16) ** 2 < 80).astype(float),
        "checkerboard": ((yy // 4 + xx // 4) % 2).astype(float),
    }


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(path)


def train_toy(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """A TinyCNN fitted by 60 full-batch gradient steps; on one thread, which on a busy 2-core machine is ten
    times faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = build_network("tinycnn", len(CLASSES), 1)
        module = NormalizedClassifier(net, [0.5], [0.25])
        for _ in range(60):
            loss = torch.nn.functional.cross_entropy(module(x), y)
            grads = torch.autograd.grad(loss, list(module.parameters()))
            with torch.no_grad():
                for parameter, grad in zip(module.parameters(), grads):
                    parameter -= 0.5 * grad
        return net
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(card path, data folder): a TinyCNN trained for a few hundred steps to tell horizontal from vertical
    stripes, and its train/val/test splits as PNG files, read back through the app's loader by the fit."""
    root = tmp_path_factory.mktemp("toy")
    data = root / "stripes"
    rng = np.random.default_rng(0)
    images, labels = [], []
    for split, count in (("train", 80), ("val", 40), ("test", 40)):
        for label, kind in enumerate(CLASSES):
            for i in range(count):
                image = stripes(kind, rng)
                write_png(data / split / kind / f"{i:03d}.png", image)
                if split == "train":
                    images.append(torch.from_numpy(image).float()[None])
                    labels.append(label)
    net = train_toy(torch.stack(images), torch.tensor(labels))
    models = root / "models"
    models.mkdir()
    weights = models / "toy.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    card = ModelCard(name="toy", architecture="tinycnn", classes=CLASSES, input_size=(SIZE, SIZE), channels=1,
                     mean=[0.5], std=[0.25], weights=weights.name, sha256=sha256_file(weights),
                     display_names={"horizontal": "Horizontal stripes", "vertical": "Vertical stripes"},
                     training={"data": "stripes"})
    card.save(models / "toy.json")
    model = load_model(models / "toy.json")
    save_scope(model, fit_scope(model, data, layers=LAYERS))
    return models / "toy.json", data


@pytest.fixture()
def toy_copy(toy: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the fitted toy model's folder, free to damage."""
    for f in toy[0].parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "toy.json"


def scores(model, images: list[np.ndarray]) -> list[float]:
    """Scope scores of a batch, through the same hooks and detector the engine's probe uses."""
    batch = [torch.from_numpy(np.asarray(im)).float()[None, None] for im in images]
    features, logits = features_and_logits(model, batch, model.scope.layers)
    return model.scope.scores(features, logits).tolist()


def test_toy_model_flags_what_it_was_not_trained_on(toy: tuple[Path, Path]) -> None:
    model = load_model(toy[0])
    assert model.scope is not None and model.card.scope["layers"] == LAYERS
    threshold = model.scope.threshold
    tests = [np.asarray(load_study(p).grayscale()) for p in sorted((toy[1] / "test").rglob("*.png"))]
    inside = scores(model, tests)
    unseen = out_of_distribution(np.random.default_rng(1))
    outside = dict(zip(unseen, scores(model, list(unseen.values()))))
    assert sum(s > threshold for s in inside) / len(inside) <= 0.1  # target 5 %, on 80 images
    assert all(s > threshold for s in outside.values()), {k: round(v, 1) for k, v in outside.items() if v <= threshold}
    assert auroc(torch.tensor(inside), torch.tensor(list(outside.values()))) == 1.0


def test_out_of_scope_result_carries_score_threshold_alert_json_and_audit(toy: tuple[Path, Path]) -> None:
    model = load_model(toy[0])
    result = robust_predict(model, torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0)), **SETTINGS)
    assert result.out_of_scope and result.ood_score > result.ood_threshold == model.scope.threshold
    assert alerts.OUT_OF_SCOPE in alerts.codes(result.alerts) and result.verdict == "re-evaluate"
    message = next(a.message for a in result.alerts if a.code == alerts.OUT_OF_SCOPE)
    assert "does not resemble the stripes images" in message
    assert result.scope_note().endswith("This model distinguishes horizontal stripes and vertical stripes only.")
    assert result.headline() == "Outside the model's scope"
    assert result.scope_note().startswith(f"Vote, not meaningful for this image: {result.display(result.diagnosis)}.")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["out_of_scope"] is True and data["ood_score"] == result.ood_score
    assert data["ood_threshold"] == result.ood_threshold and alerts.OUT_OF_SCOPE in data["alert_codes"]
    entry = audit_entry(result)
    assert entry["result"]["out_of_scope"] is True and entry["result"]["ood_score"] == result.ood_score
    assert entry["result"]["ood_threshold"] == result.ood_threshold and alerts.OUT_OF_SCOPE in entry["alerts"]
    assert ("Scope", result.scope_summary()) in statistics_rows(result)
    assert result.scope_summary().startswith("OUT OF SCOPE: score")


def test_out_of_scope_alert_turns_accept_into_re_evaluate(toy: tuple[Path, Path]) -> None:
    """The same decisive vote on the same image: ACCEPT in scope, RE-EVALUATE once the detector calls it out."""
    model = load_model(toy[0])
    x = load_model(toy[0]).input_tensor(sorted((toy[1] / "test" / "vertical").glob("*.png"))[0])
    inside = robust_predict(model, x, **SETTINGS)
    assert not inside.out_of_scope and inside.rm_verdict == "accept" and inside.verdict == "accept"
    assert inside.headline() == "Vertical stripes" and inside.alerts == []
    assert model.scope is not None
    model.scope.threshold = inside.ood_score / 2
    outside = robust_predict(model, x, **SETTINGS)
    assert outside.counts == inside.counts and outside.rm_verdict == "accept"
    assert outside.out_of_scope and outside.verdict == "re-evaluate"
    assert alerts.codes(outside.alerts) == [alerts.OUT_OF_SCOPE] and "cannot vouch" in outside.reason()


def test_model_without_scope_statistics_reports_no_check(tiny_model, cxr_png: Path) -> None:
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=20, seed=0, device="cpu")
    assert tiny_model.scope is None and not result.out_of_scope
    assert result.ood_score is None and result.ood_threshold is None
    assert result.to_dict()["ood_score"] is None and audit_entry(result)["result"]["out_of_scope"] is False
    assert result.scope_summary() == "not checked (no scope statistics in the model card)"
    assert result.scope_note() == "This model distinguishes covid, normal and viral_pneumonia only."  # no display names


@pytest.mark.parametrize("n", [19, 20, 57, 372, 1000])
def test_calibrated_threshold_flags_at_most_the_target_rate(n: int) -> None:
    values = torch.from_numpy(np.random.default_rng(n).normal(size=n)).round(decimals=1)  # ties included
    threshold = calibrate_threshold(values, 0.05)
    flagged = int((values > threshold).sum())
    assert flagged <= math.floor(0.05 * (n + 1)) - 1 and flagged / n <= 0.05
    assert int((values >= threshold).sum()) >= 1  # the threshold is a calibration score, not above them all


def test_calibration_refuses_too_few_images() -> None:
    with pytest.raises(ValueError, match="need at least 19"):
        calibrate_threshold(torch.arange(18.0), 0.05)


def test_shrunk_covariance_and_whitening() -> None:
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.normal(size=(30, 50)))  # fewer images than dimensions: S is singular
    covariance, shrinkage = ledoit_wolf(features - features.mean(0))
    assert 0 < shrinkage < 1 and bool(torch.linalg.eigvalsh(covariance).min() > 0)
    labels = torch.tensor([0] * 15 + [1] * 15)
    stats = fit_gaussian(features, labels, 2)
    centred = features - stats.means[labels]
    shared, _ = ledoit_wolf(centred)
    precision = torch.linalg.inv(shared)
    assert torch.allclose(stats.whitening.T @ stats.whitening, precision, rtol=1e-3, atol=1e-4)
    direct = torch.einsum("nd,de,ne->n", centred, precision, centred)
    assert torch.allclose(stats.distances(features).gather(1, labels.view(-1, 1)).squeeze(1), direct, rtol=1e-3)


def test_auroc_matches_pairwise_counting() -> None:
    a, b = torch.tensor([0.1, 0.4, 0.4, 0.9]), torch.tensor([0.4, 0.8, 1.0])
    pairs = [(1.0 if y > x else 0.5 if y == x else 0.0) for x in a for y in b]
    assert auroc(a, b) == pytest.approx(sum(pairs) / len(pairs))


def test_classes_sentence_keeps_acronyms() -> None:
    assert classes_sentence(["COVID-19", "Normal", "Viral pneumonia"]) == \
        "This model distinguishes COVID-19, normal and viral pneumonia only."
    assert classes_sentence(["Melanoma", "Actinic keratosis / Bowen's"]) == \
        "This model distinguishes melanoma and actinic keratosis / Bowen's only."


def test_stage_layers_of_the_shipped_architectures() -> None:
    resnet = NormalizedClassifier(build_network("resnet18", 3, 1), [0.5], [0.25])
    assert stage_layers(resnet) == ["net.layer1", "net.layer2", "net.layer3", "net.layer4"]
    assert stage_layers(NormalizedClassifier(build_network("tinycnn", 3, 1), [0.5], [0.25])) == ["net.layer4"]


def test_card_and_statistics_round_trip(toy_copy: Path) -> None:
    card = ModelCard.load(toy_copy)
    stats_file = toy_copy.with_name("toy.scope.safetensors")
    assert card.scope["stats"] == stats_file.name and card.scope["stats_sha256"] == sha256_file(stats_file)
    assert card.scope["weights_sha256"] == card.sha256 and card.scope["val_flag_rate"] <= 0.05
    assert card.scope["val_images"] == 80 and card.scope["train_images"] == 160
    model = load_model(toy_copy)
    assert model.scope is not None and model.scope.threshold == card.scope["threshold"]
    assert list(model.scope.stats.stages) == LAYERS


def test_tampered_statistics_are_refused(toy_copy: Path) -> None:
    stats_file = toy_copy.with_name("toy.scope.safetensors")
    blob = bytearray(stats_file.read_bytes())
    blob[-1] ^= 0xFF
    stats_file.write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match=r"do not match their card's sha256 .*refusing to load them") as info:
        load_model(toy_copy)
    assert str(stats_file) in str(info.value)
    assert load_model(toy_copy, with_scope=False).scope is None  # what `medrdf scope fit` uses to repair it


def test_missing_or_stale_statistics_are_refused(toy_copy: Path) -> None:
    data = json.loads(toy_copy.read_text())
    data["scope"]["weights_sha256"] = "0" * 64
    toy_copy.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="fitted for other weights; rerun `medrdf scope fit toy`"):
        load_model(toy_copy)
    data["scope"]["weights_sha256"] = data["sha256"]
    toy_copy.write_text(json.dumps(data))
    toy_copy.with_name("toy.scope.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="are missing; rerun `medrdf scope fit toy`"):
        load_model(toy_copy)


def test_cli_fits_the_scope_and_predict_reports_it(toy: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    card = tmp_path / "toy.json"
    data = json.loads(toy[0].read_text())
    data.pop("scope")
    card.write_text(json.dumps(data))
    shutil.copy(toy[0].with_suffix(".safetensors"), tmp_path / "toy.safetensors")
    assert main(["scope", "fit", str(card), "--data-dir", str(toy[1].parent), "--layers", ",".join(LAYERS)]) == 0
    out = capsys.readouterr().out
    assert "scope: mahalanobis on net.stem, net.layer4" in out and (tmp_path / "toy.scope.safetensors").is_file()
    fitted = ModelCard.load(card).scope
    assert fitted["threshold"] == json.loads(toy[0].read_text())["scope"]["threshold"]
    assert fitted["command"] == "medrdf scope fit toy --method mahalanobis --rate 0.05 --layers net.stem,net.layer4"
    noise = tmp_path / "noise.png"
    write_png(noise, np.random.default_rng(3).uniform(0, 1, (SIZE, SIZE)))
    assert main(["predict", str(noise), "--model", str(card), "--n", "100", "--seed", "0", "--device", "cpu",
                 "--no-audit-log"]) == 0
    out = capsys.readouterr().out
    assert "MedRDF diagnosis: Outside the model's scope  [RE-EVALUATE]" in out
    assert "ALERT (outside the model's scope)" in out and "  scope: OUT OF SCOPE: score" in out


def test_cli_scope_fit_usage_errors(toy: tuple[Path, Path], capsys) -> None:
    assert main(["scope", "fit", str(toy[0]), "--rate", "1.5"]) == 2
    assert main(["scope", "fit", str(toy[0]), "--data-dir", str(toy[1]), "--dataset", "nowhere"]) == 2
    assert "has no train/ and val/ splits" in capsys.readouterr().err


def test_report_says_out_of_scope(toy: tuple[Path, Path], cxr_png: Path) -> None:
    model = load_model(toy[0])
    study = load_study(cxr_png)
    result = robust_predict(model, model.input_tensor(cxr_png), **SETTINGS)
    assert result.out_of_scope  # a chest film is no stripe pattern
    reader = PdfReader(io.BytesIO(render_report(result, study, card=model.card)))
    text = reader.pages[0].extract_text()
    assert "Outside the model's scope" in text and "OUT OF SCOPE: score" in text
    assert "distinguishes horizontal stripes and vertical stripes" in text.replace("\n", " ")
    assert dataclasses.replace(result, out_of_scope=False, alerts=[]).headline() == result.display(result.diagnosis)
