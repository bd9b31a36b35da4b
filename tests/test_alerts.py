"""The final flag: ACCEPT only when the paper's RM rule accepts and no alert stands; each alert turns it into
RE-EVALUATE, and every surface (JSON, audit log, CLI summary) carries the flag, the rule and the alerts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medrdf_gui import alerts
from medrdf_gui.alerts import Alert
from medrdf_gui.audit import audit_entry
from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo import ModelCard
from medrdf_gui.robust import RobustSettings, robust_predict
from medrdf_gui.robust.engine import run_alerts
from medrdf_gui.robust.validation import PROTECTED_FLOOR, protection_notice
from medrdf_gui.robust.vote import decide

CLASSES = ["covid", "normal", "viral_pneumonia"]


class Constant(nn.Module):
    """Votes for ``vote`` on noisy copies and answers ``clean`` on the clean image (no pixel is exactly 0 or 1
    there, while salt-and-pepper copies always have some): a controllable base/defended disagreement."""

    def __init__(self, vote: int, clean: int) -> None:
        super().__init__()
        self.vote, self.clean = vote, clean
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noisy = ((x == 0) | (x == 1)).flatten(1).any(1)
        label = torch.where(noisy, torch.tensor(self.vote), torch.tensor(self.clean))
        return nn.functional.one_hot(label, 3).float() * 10 + self.dummy


SETTINGS = RobustSettings(n=200, seed=0, denoiser="none", device="cpu")
X = torch.full((1, 1, 16, 16), 0.5)


def test_decisive_agreeing_vote_is_accepted_without_alerts() -> None:
    result = robust_predict(Constant(0, 0), X, SETTINGS, classes=CLASSES)
    assert result.rm_verdict == "accept" and result.alerts == [] and result.verdict == "accept"


def test_disagreement_with_the_base_model_turns_accept_into_re_evaluate() -> None:
    result = robust_predict(Constant(0, 1), X, SETTINGS, classes=CLASSES)
    assert result.rm_verdict == "accept"  # the paper's rule alone would vouch for it
    assert alerts.codes(result.alerts) == [alerts.BASE_DISAGREEMENT]
    assert result.verdict == "re-evaluate"
    assert "cannot vouch" in result.reason() and result.rm_reason().startswith("RM = 3.00")


@pytest.mark.parametrize("code", alerts.ORDER)
def test_every_alert_overrules_an_accepting_rm_rule(code: str) -> None:
    result = robust_predict(Constant(0, 0), X, SETTINGS, classes=CLASSES)
    assert result.verdict == "accept"
    result.add_alerts([Alert(code, "why")])
    assert result.verdict == "re-evaluate"
    data = result.to_dict()
    assert data["verdict"] == "re-evaluate" and data["rm_verdict"] == "accept"
    assert data["alerts"] == [{"code": code, "message": "why"}] and data["alert_codes"] == [code]
    json.dumps(data)  # serialisable as the CLI prints it


def test_run_alerts_ignores_an_abstained_vote_and_reports_the_caution() -> None:
    abstained = decide(np.array([50, 50, 0]), 0.001, 1.0)
    assert abstained.abstained
    assert run_alerts(CLASSES, abstained, base_label=2, caution=None, display_names={}) == []
    kept = decide(np.array([100, 0, 0]), 0.001, 1.0)
    found = run_alerts(CLASSES, kept, base_label=1, caution="not validated", display_names={"normal": "Normal"})
    assert alerts.codes(found) == [alerts.BASE_DISAGREEMENT, alerts.UNVALIDATED_SETTING]
    assert "The base model says Normal" in found[0].message


def test_an_unvalidated_setting_is_an_alert(tiny_model_card: Path, tmp_path: Path) -> None:
    from medrdf_gui.modelzoo import load_model

    card = ModelCard.load(tiny_model_card)
    card.defences = [{"noise": "salt-pepper", "sigma": 0.1, "denoiser": "median", "kernel": 3,
                      "natural_accuracy": 90.0, "base_accuracy": 91.0, "images": 100}]
    copy = tmp_path / "m.json"
    (tmp_path / card.weights).write_bytes(card.weights_path.read_bytes())
    card.save(copy)
    model = load_model(copy)
    result = robust_predict(model, torch.rand(1, 1, 32, 32), RobustSettings(n=50, seed=1, noise="gaussian"))
    assert alerts.UNVALIDATED_SETTING in alerts.codes(result.alerts)
    assert result.verdict == "re-evaluate" and result.caution
    assert result.caution not in result.notes  # shown as an alert, not again as a note


def test_the_file_header_raises_not_a_chest_radiograph(dicom_dir: Path) -> None:
    study = load_study(dicom_dir / "ct_small_uncompressed.dcm")
    assert alerts.codes(study.alerts) == [alerts.NOT_CHEST_RADIOGRAPH]
    result = robust_predict(Constant(0, 0), X, SETTINGS, classes=CLASSES)
    result.attach_study(study)
    assert result.verdict == "re-evaluate" and result.image_sha256 == study.pixel_sha256()
    assert study.alerts[0].message in result.warnings and study.alerts[0].message not in result.notes
    result.attach_study(study)  # attaching twice repeats nothing
    assert len(result.alerts) == 1


def test_a_chest_radiograph_raises_no_header_alert(dicom_dir: Path) -> None:
    assert load_study(dicom_dir / "cxr_cr_mono2_jpeg_baseline_siim_pa_neg.dcm").alerts == []


def test_audit_log_records_flag_rule_and_alert_codes_only() -> None:
    result = robust_predict(Constant(0, 1), X, SETTINGS, classes=CLASSES)
    entry = audit_entry(result)
    assert entry["result"]["verdict"] == "re-evaluate" and entry["result"]["rm_verdict"] == "accept"
    assert entry["alerts"] == [alerts.BASE_DISAGREEMENT]
    assert "base model says" not in json.dumps(entry)


def test_merge_keeps_display_order_and_drops_repeats() -> None:
    a, b = Alert(alerts.UNVALIDATED_SETTING, "x"), Alert(alerts.BASE_DISAGREEMENT, "y")
    assert alerts.merge([a], [b, a]) == [b, a]


# -- the standing protection notice -------------------------------------------------------------------------------

def _entry(row: str, acc: float, images: int = 372, eps: float = 8 / 255, **setting) -> dict:
    entry = {"row": row, "epsilon": eps, "worst_case_accuracy": acc, "natural_accuracy": 95.0, "images": images,
             "attacks": ["pgd100", "autoattack", "eot-pgd-strong"], "data": "cxr3/test"}
    if row == "medrdf":
        entry.update({"noise": "salt-pepper", "sigma": 0.1, "denoiser": "median", "kernel": 3, **setting})
    return entry


def _card(tiny_model_card: Path, robustness: list[dict]) -> ModelCard:
    card = ModelCard.load(tiny_model_card)
    return dataclasses.replace(card, robustness=robustness)


def test_protection_notice_says_unmeasured_unprotected_or_measured(tiny_model_card: Path) -> None:
    settings = RobustSettings()
    assert protection_notice(None, settings) is None
    assert protection_notice(_card(tiny_model_card, []), settings).startswith("Not measured")
    low = protection_notice(_card(tiny_model_card, [_entry("base", 0.0), _entry("medrdf", 4.6)]), settings)
    assert low.startswith("Not protected") and "4.6 %" in low and "MedRDF" in low and "3 attacks" in low
    high = _card(tiny_model_card, [_entry("base", 70.0), _entry("medrdf", PROTECTED_FLOOR + 25)])
    assert protection_notice(high, settings).startswith("Measured protection") and "75.0 %" in \
        protection_notice(high, settings)
    # another MedRDF setting was not measured: the notice falls back to the base model and says so
    other = protection_notice(high, settings.with_(noise="gaussian", denoiser="gaussian", kernel=1.0))
    assert "70.0 %" in other and "not measured" in other
    # the reference ε is preferred over a larger one measured on more images
    mixed = _card(tiny_model_card, [_entry("base", 10.0, images=500, eps=16 / 255), _entry("base", 60.0, images=100)])
    assert "60.0 %" in protection_notice(mixed, settings)


def test_card_robustness_round_trips_and_merges(tiny_model_card: Path, tmp_path: Path) -> None:
    card = ModelCard.load(tiny_model_card)
    assert card.merge_robustness([_entry("base", 1.0, images=100), _entry("medrdf", 2.0, images=100)]) == 2
    assert card.merge_robustness([_entry("medrdf", 3.0, images=50)]) == 0  # fewer images: kept
    assert card.merge_robustness([_entry("medrdf", 4.0, images=372), _entry("base", 5.0, eps=2 / 255)]) == 2
    path = tmp_path / "card.json"
    card.save(path)
    loaded = ModelCard.load(path)
    assert loaded.robustness == card.robustness and len(loaded.robustness) == 3
    assert [e["worst_case_accuracy"] for e in loaded.robustness] == [1.0, 4.0, 5.0]


def test_protection_summary_for_lists(tiny_model_card: Path) -> None:
    from medrdf_gui.robust.validation import protection_summary

    assert protection_summary(_card(tiny_model_card, [])) == "robustness not measured"
    text = protection_summary(_card(tiny_model_card, [_entry("base", 0.5), _entry("medrdf", 4.6)]))
    assert text.startswith("not protected: worst case 4.6 %") and "with MedRDF salt-and-pepper" in text
    assert protection_summary(_card(tiny_model_card, [_entry("base", 80.0)])).startswith("protected: worst case 80.0 %")


# -- the envelope: the largest ε that keeps ≥ 80 % ---------------------------------------------------------------

def test_envelope_is_the_largest_eps_below_which_every_measurement_kept_the_floor(tiny_model_card: Path,
                                                                                  tmp_path: Path) -> None:
    from medrdf_gui.modelzoo.card import envelopes

    curve = [_entry("medrdf", 95.0, eps=1 / 255), _entry("medrdf", 85.0, eps=2 / 255, images=27),
             _entry("medrdf", 70.0, eps=4 / 255), _entry("medrdf", 81.0, eps=8 / 255)]  # 8/255 above again
    (env,) = envelopes(curve)
    assert env["epsilon"] == pytest.approx(2 / 255) and env["worst_case_accuracy"] == 85.0 and env["images"] == 27
    assert env["first_below"]["epsilon"] == pytest.approx(4 / 255)  # a later rise does not extend it
    assert env["sigma"] == 0.1 and env["measured_eps"] == pytest.approx([1 / 255, 2 / 255, 4 / 255, 8 / 255])
    (none,) = envelopes([_entry("base", 4.6)])
    assert none["epsilon"] == 0.0 and none["first_below"]["worst_case_accuracy"] == 4.6
    (open_ended,) = envelopes([_entry("base", 90.0)])
    assert open_ended["epsilon"] == pytest.approx(8 / 255) and open_ended["first_below"] is None
    # one envelope per row and setting; the card's JSON carries them, and loading ignores them
    card = _card(tiny_model_card, curve + [_entry("base", 4.6), _entry("medrdf", 90.0, sigma=0.2)])
    assert len(envelopes(card.robustness)) == 3
    path = tmp_path / "card.json"
    card.save(path)
    assert len(json.loads(path.read_text())["envelope"]) == 3
    assert ModelCard.load(path).robustness == card.robustness


def test_envelope_text_says_what_the_setting_buys(tiny_model_card: Path) -> None:
    from medrdf_gui.robust.validation import envelope_text

    settings = RobustSettings()
    assert envelope_text(_card(tiny_model_card, []), settings) is None
    card = _card(tiny_model_card, [_entry("medrdf", 92.0, eps=2 / 255), _entry("medrdf", 66.7, eps=8 / 255, images=27),
                                   _entry("base", 63.0)])
    text = envelope_text(card, settings)
    assert "MedRDF keeps ≥ 80 % of diagnoses under attack up to ε = 2/255" in text
    assert "92.0 %" in text and "66.7 % at 8/255 (27 images)" in text
    other = envelope_text(card, settings.with_(sigma=0.2))  # not measured: the model alone, and it says so
    assert other.startswith("These settings were not measured") and "already at 8/255" in other and "63.0 %" in other
    assert "up to at least ε = 8/255, the largest" in envelope_text(_card(tiny_model_card, [_entry("base", 85.0)]),
                                                                   settings)
    assert "worst of 3 attacks" in text
    one = dict(_entry("medrdf", 85.0), attacks=["pgd100"])  # one transferred attack: named, and "only"
    assert "85.0 % on 372 images, against pgd100 only" in envelope_text(_card(tiny_model_card, [one]), settings)
