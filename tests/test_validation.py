"""Validated defence settings: the caution every result and the settings panel carry when the chosen noise and
denoiser were measured to cost the model its accuracy, or were never measured for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medrdf_gui.modelzoo import load_model
from medrdf_gui.modelzoo.card import ModelCard
from medrdf_gui.modelzoo.testing import write_untrained_model
from medrdf_gui.robust import RobustSettings, robust_predict
from medrdf_gui.robust.validation import MAX_ACCURACY_LOSS, defence_caution, describe_defence


def _entry(noise: str, denoiser: str, kernel: float, natural: float, base: float = 98.0, images: int = 96,
           sigma: float = 0.1) -> dict:
    return {"noise": noise, "sigma": sigma, "denoiser": denoiser, "kernel": kernel, "natural_accuracy": natural,
            "base_accuracy": base, "images": images, "n": 100}


class _Card:
    def __init__(self, defences: list[dict]) -> None:
        self.defences = defences


MEASURED = _Card([_entry("salt-pepper", "median", 3, 96.2, 98.1, 372), _entry("gaussian", "gaussian", 1.0, 66.7),
                  _entry("gaussian", "none", 0, 33.3)])


def test_a_validated_setting_gets_no_caution() -> None:
    assert defence_caution(MEASURED, RobustSettings()) is None  # the paper's default: 1.9 points lost


def test_a_measured_costly_setting_is_named_with_its_figures() -> None:
    text = defence_caution(MEASURED, RobustSettings(noise="gaussian", denoiser="gaussian", kernel=1.0))
    assert "66.7 % against 98.0 %" in text and "96 test images" in text
    assert "Validated for this model: salt-and-pepper σ = 0.1 + 3×3 median (96.2 % natural accuracy)" in text
    # without a denoiser the kernel is irrelevant: any value matches the measured entry
    assert "33.3 %" in defence_caution(MEASURED, RobustSettings(noise="gaussian", denoiser="none", kernel=7))


@pytest.mark.parametrize("change", [{"sigma": 0.05}, {"kernel": 5}, {"noise": "poisson"}])
def test_an_unmeasured_setting_is_not_validated(change: dict) -> None:
    text = defence_caution(MEASURED, RobustSettings().with_(**change))
    assert "was never validated for this model" in text and "Validated for this model: salt-and-pepper" in text


def test_the_threshold_is_a_loss_of_five_points() -> None:
    card = _Card([_entry("salt-pepper", "median", 3, 98.0 - MAX_ACCURACY_LOSS), _entry("poisson", "median", 3, 92.9)])
    assert defence_caution(card, RobustSettings()) is None
    text = defence_caution(card, RobustSettings(noise="poisson"))
    assert "92.9 % against 98.0 %" in text


def test_no_measurements_no_caution_and_none_validated_is_said() -> None:
    assert defence_caution(_Card([]), RobustSettings(noise="gaussian")) is None
    assert defence_caution(object(), RobustSettings()) is None  # a bare module's "card"
    text = defence_caution(_Card([_entry("salt-pepper", "median", 3, 50.0, 62.6)]), RobustSettings())
    assert "No setting measured for this model keeps its natural accuracy." in text


def test_best_validated_keeps_the_most_accuracy() -> None:
    from medrdf_gui.robust.validation import best_validated

    card = _Card([_entry("salt-pepper", "median", 3, 94.0), _entry("poisson", "median", 3, 97.0),
                  _entry("gaussian", "none", 0, 33.3)])
    assert best_validated(card)["noise"] == "poisson"
    assert best_validated(_Card([_entry("gaussian", "none", 0, 33.3)])) is None
    assert best_validated(object()) is None


def test_describe_defence() -> None:
    assert describe_defence("salt-pepper", 0.1, "median", 3) == "salt-and-pepper σ = 0.1 + 3×3 median"
    assert describe_defence("poisson", 0.2, "gaussian", 1.5) == "poisson σ = 0.2 + gaussian smoothing σ = 1.5 px"
    assert describe_defence("gaussian", 0.25, "none", 0) == "gaussian σ = 0.25 without a denoiser"


def test_card_merge_keeps_the_larger_measurement_and_round_trips(tmp_path: Path) -> None:
    card = ModelCard.load(write_untrained_model(tmp_path, name="m"))
    assert card.defences == []
    assert card.merge_defences([_entry("salt-pepper", "median", 3, 97.9, 99.0, 96),
                                _entry("gaussian", "none", 0, 33.3)]) == 2
    assert card.merge_defences([_entry("salt-pepper", "median", 3, 96.2, 98.1, 372)]) == 1  # more images: replaces
    assert card.merge_defences([_entry("salt-pepper", "median", 3, 99.0, 99.0, 10)]) == 0  # fewer: kept
    assert card.merge_defences([_entry("salt-pepper", "median", 5, 90.0)]) == 1  # another window: added
    card.save(card.path)
    again = ModelCard.load(card.path)
    assert [(e["kernel"], e["images"]) for e in again.defences] == [(3, 372), (0, 96), (5, 96)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_result_carries_the_caution(tmp_path: Path) -> None:
    model = load_model(write_untrained_model(tmp_path, name="m", size=16))
    model.card.defences = [_entry("salt-pepper", "median", 3, 96.0), _entry("gaussian", "gaussian", 1.0, 60.0)]
    x = torch.full((1, 1, 16, 16), 0.5)
    assert robust_predict(model, x, n=20, batch_size=20, seed=0).warnings == []
    result = robust_predict(model, x, n=20, batch_size=20, seed=0, noise="gaussian", denoiser="gaussian", kernel=1.0)
    assert len(result.warnings) == 1 and "60.0 % against 98.0 %" in result.warnings[0]
    assert result.caution == result.warnings[0]
    assert result.to_dict()["warnings"] == result.warnings and result.to_dict()["caution"] == result.caution


def test_shipped_models_record_their_measured_defences() -> None:
    """The cards hold what docs/robustness.md measured: cxr3's default is validated, derma7's is not."""
    cxr3, derma7 = load_model("cxr3-resnet18").card, load_model("derma7-resnet18").card
    # the nine noise × denoiser pairs of TABLE III, and on derma7 also Random R-P (TABLE XI)
    assert len(cxr3.defences) == 9 and len(derma7.defences) == 10
    assert defence_caution(cxr3, RobustSettings()) is None
    assert "random resize + pad σ = 0.1 without a denoiser" in defence_caution(
        derma7, RobustSettings(noise="resize-pad", denoiser="none"))
    assert "natural accuracy was 50.0 % against 62.6 %" in defence_caution(derma7, RobustSettings())
    assert "poisson σ = 0.1 + 3×3 median (61.4 %" in defence_caution(derma7, RobustSettings())


def test_the_audit_log_says_whether_the_settings_were_validated(tmp_path: Path) -> None:
    from medrdf_gui.audit import audit_entry

    model = load_model(write_untrained_model(tmp_path, name="m", size=16))
    model.card.defences = [_entry("salt-pepper", "median", 3, 96.0)]
    x = torch.full((1, 1, 16, 16), 0.5)
    assert audit_entry(robust_predict(model, x, n=20, batch_size=20, seed=0))["settings_validated"] is True
    cautioned = robust_predict(model, x, n=20, batch_size=20, seed=0, noise="poisson")
    assert audit_entry(cautioned)["settings_validated"] is False


def test_the_cli_summary_puts_the_caution_first(capsys, tmp_path: Path, cxr_png: Path) -> None:
    import json

    from medrdf_gui.cli import main

    card_path = write_untrained_model(tmp_path, name="m", size=32)
    data = json.loads(card_path.read_text())
    data["defences"] = [_entry("salt-pepper", "median", 3, 96.0)]
    card_path.write_text(json.dumps(data))
    args = ["predict", str(cxr_png), "--model", str(card_path), "--n", "20", "--batch-size", "20", "--seed", "0",
            "--no-audit-log", "--noise", "poisson"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert ("  ALERT (settings not validated for this model): Poisson σ = 0.1 + 3×3 median was never validated "
            "for this model") in out
    assert "[RE-EVALUATE]" in out  # an alert keeps the flag from ACCEPT
    assert "note: Poisson" not in out  # said once, as the caution
    assert main([*args, "--json"]) == 0
    assert "never validated" in json.loads(capsys.readouterr().out)["caution"]
