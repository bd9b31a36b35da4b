"""The settings panel and model choice: persistence, defaults, validation, "no model installed"."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrdf_gui.app.panels.model_selector import NO_MODEL_TEXT
from medrdf_gui.robust import RobustSettings
from medrdf_gui.robust.settings import APP_DEFAULTS


def test_settings_and_model_persist_across_windows(make_window, settings_path: Path, tiny_model_card: Path) -> None:
    chosen = RobustSettings(noise="gaussian", sigma=0.25, denoiser="gaussian", kernel=1.5, n=1000, n0=50,
                            alpha=0.01, threshold=0.5, batch_size=32, seed=7, device="cpu")
    first = make_window()
    panel = first.settings_panel
    assert panel.model_selector.load_card_file(tiny_model_card)
    panel.set_settings(chosen)
    panel.sigma.slider.setValue(300)  # an edit through a widget is saved too
    assert panel.settings().sigma == 0.3
    panel.gradcam_copies.setValue(48)  # not a RobustSettings field, persisted beside them
    first.close()

    second = make_window(settings_path)
    assert second.settings_panel.settings() == chosen.with_(sigma=0.3)
    assert second.settings_panel.model_reference() == str(tiny_model_card.resolve())
    assert second.settings_panel.gradcam_copies.value() == 48


def test_garbled_settings_file_still_opens_with_defaults(make_window, settings_path: Path) -> None:
    settings_path.write_text("[robust]\nsigma=banana\nn=many\ndevice=\n\n[window]\ngeometry=@ByteArray(junk)\n"
                             "state=3\n\n[model]\nreference=/nowhere/card.json\n", encoding="utf-8")
    window = make_window(settings_path)
    assert window.settings_panel.settings() == APP_DEFAULTS
    assert window.settings_panel.model_reference() is None
    warnings = window.banners.messages("settings")
    assert len(warnings) == 1 and "defaults are used" in warnings[0][1] and "'sigma'" in warnings[0][1]


@pytest.mark.parametrize("damage", ["folder", "format"])
def test_unreadable_settings_file_warns_and_uses_defaults(make_window, settings_path: Path, damage: str) -> None:
    """A settings path that cannot be read (a folder in its place: Qt's AccessError; root ignores chmod) or an
    INI with a broken section header (FormatError) opens with defaults and a visible warning."""
    if damage == "folder":
        settings_path.mkdir()
    else:
        settings_path.write_text("[robust]\nsigma=0.3\n[broken\nn=5\n", encoding="utf-8")
    window = make_window(settings_path)
    assert window.settings_panel.settings() == APP_DEFAULTS
    (severity, text), = window.banners.messages("settings")
    assert severity == "warning" and str(settings_path) in text
    if damage == "format":
        assert Path(f"{settings_path}.damaged").read_text(encoding="utf-8").startswith("[robust]")


def test_clean_settings_file_gives_no_warning(make_window, settings_path: Path) -> None:
    window = make_window(settings_path)
    assert window.banners.messages("settings") == []


def test_a_new_window_samples_adaptively_and_reset_gives_the_paper_s_fixed_n(window) -> None:
    panel = window.settings_panel
    assert panel.settings() == APP_DEFAULTS and APP_DEFAULTS.sampling == "adaptive" and APP_DEFAULTS.n == 10_000
    assert APP_DEFAULTS == RobustSettings().with_(sampling="adaptive")  # everything else is the paper's
    panel.set_settings(RobustSettings(n=123, sigma=0.5, noise="poisson", denoiser="none", seed=3))
    panel.gradcam_copies.setValue(5)
    window.actions.reset_settings.trigger()
    assert panel.settings() == RobustSettings() and panel.settings().sampling == "fixed"
    assert panel.gradcam_copies.value() == 32


def test_backend_choice_round_trips(window) -> None:
    panel = window.settings_panel
    assert panel.backend.currentData() == "auto/fp32" and panel.backend.findData("torch/fp32") >= 0
    panel.set_settings(RobustSettings(backend="torch", precision="fp32"))
    assert (panel.settings().backend, panel.settings().precision) == ("torch", "fp32")
    panel.set_settings(RobustSettings(backend="onnxruntime", precision="bf16"))  # no such entry: automatic
    assert (panel.settings().backend, panel.settings().precision) == ("auto", "fp32")


def test_sigma_slider_and_spin_box_agree(window) -> None:
    sigma = window.settings_panel.sigma
    sigma.spin.setValue(0.42)
    assert sigma.slider.value() == 420
    sigma.slider.setValue(50)
    assert sigma.value() == 0.05


def test_n_presets(window) -> None:
    copies = window.settings_panel.copies
    for count, button in copies.preset_buttons.items():
        button.click()
        assert window.settings_panel.settings().n == count


def test_device_choices_are_auto_and_what_torch_found(window) -> None:
    from medrdf_gui.robust import available_devices

    device = window.settings_panel.device
    assert [device.itemData(i) for i in range(device.count())] == ["auto", *available_devices()]


def test_invalid_settings_are_explained_and_block_analyze(window, cxr_png: Path, tiny_model_card: Path) -> None:
    panel = window.settings_panel
    panel.model_selector.load_card_file(tiny_model_card)
    window.open_path(cxr_png)
    assert window.actions.analyze.isEnabled()
    panel.copies.setValue(5)  # below the n at which α = 0.001 can ever be reached
    assert "too small" in panel.error_label.text() and not panel.error_label.isHidden()
    assert not window.actions.analyze.isEnabled()
    assert "Fix the settings" in window.actions.analyze.toolTip()
    panel.copies.setValue(100)
    assert panel.error_label.isHidden() and window.actions.analyze.isEnabled()


def test_median_kernel_stays_odd(window) -> None:
    panel = window.settings_panel
    panel.denoiser.setCurrentIndex(panel.denoiser.findData("median"))
    panel.kernel.setValue(4.0)
    assert panel.settings().kernel == 5
    assert panel.validation_error() is None


def test_each_denoiser_keeps_its_own_size(window) -> None:
    """A 3 px median window must not become a 3 px gaussian blur: each denoiser shows its own size."""
    panel = window.settings_panel

    def choose(denoiser: str) -> float:
        panel.denoiser.setCurrentIndex(panel.denoiser.findData(denoiser))
        return panel.settings().kernel

    panel.reset_to_defaults()
    assert panel.settings().denoiser == "median" and panel.settings().kernel == 3
    assert choose("gaussian") == 1.0 and panel.kernel_label.text().startswith("σ")
    panel.kernel.setValue(1.5)
    assert choose("median") == 3
    panel.kernel.setValue(5.0)
    assert choose("none") == 5 and not panel.kernel.isEnabled()
    assert choose("gaussian") == 1.5 and choose("median") == 5
    panel.set_settings(RobustSettings(denoiser="gaussian", kernel=2.0))
    assert panel.settings().kernel == 2.0 and choose("median") == 5 and choose("gaussian") == 2.0


def test_no_model_installed_is_said_plainly(window, cxr_png: Path) -> None:
    window.open_path(cxr_png)
    assert window.settings_panel.model_reference() is None
    assert not window.actions.analyze.isEnabled()
    assert window.actions.analyze.toolTip() == NO_MODEL_TEXT
    assert ("warning", NO_MODEL_TEXT) in window.banners.messages("model")
    assert window.results_panel.status_label.text() == NO_MODEL_TEXT
    assert not window.analyze()


def test_installed_models_are_listed_and_untrained_ones_flagged(make_window, monkeypatch,
                                                                 tiny_model_card: Path) -> None:
    monkeypatch.setenv("MEDRDF_MODELS_DIR", str(tiny_model_card.parent))
    window = make_window()
    selector = window.settings_panel.model_selector
    assert selector.reference() == "tiny-untrained"
    assert "UNTRAINED" in selector.note.text()
    assert "UNTRAINED" in window.results_panel.model_label.text()
    assert window.banners.messages("model") == []
    assert window.settings_panel.default_threshold.text() == "Default 1"  # (K − 1)/2 for K = 3
    window.model_menu.refresh()
    labels = [a.text() for a in window.model_menu.actions()]
    assert "tiny-untrained" in labels and "Load model card…" in labels


def test_unusable_model_card_is_reported(window, tmp_path: Path) -> None:
    card = tmp_path / "broken.json"
    card.write_text("{ not json", encoding="utf-8")
    assert not window.settings_panel.model_selector.load_card_file(card)
    assert any("not valid JSON" in text for _, text in window.banners.messages("model-card"))


def test_a_setting_not_validated_for_the_model_is_cautioned_before_the_run(window, tmp_path: Path) -> None:
    import json

    from medrdf_gui.modelzoo.testing import write_untrained_model

    card_path = write_untrained_model(tmp_path, name="measured")
    data = json.loads(card_path.read_text())
    data["defences"] = [{"noise": "salt-pepper", "sigma": 0.1, "denoiser": "median", "kernel": 3,
                         "natural_accuracy": 96.2, "base_accuracy": 98.1, "images": 372, "n": 1000}]
    card_path.write_text(json.dumps(data))
    panel = window.settings_panel
    panel.reset_to_defaults()
    panel.model_selector.load_card_file(card_path)
    assert panel.caution_label.isHidden()  # the paper's default was measured and kept its accuracy
    panel.noise.setCurrentIndex(panel.noise.findData("gaussian"))
    panel.copies.setValue(500)
    assert not panel.caution_label.isHidden() and not panel.use_validated_button.isHidden()
    assert "never validated for this model" in panel.caution_label.text()
    panel.use_validated_button.click()  # back to the measured setting; n is the user's own and stays
    settings = panel.settings()
    assert (settings.noise, settings.sigma, settings.denoiser, settings.kernel, settings.n) == (
        "salt-pepper", 0.1, "median", 3, 500)
    assert panel.caution_label.isHidden() and panel.use_validated_button.isHidden()


def test_the_settings_panel_says_what_the_chosen_sigma_buys_under_attack(window, tmp_path: Path) -> None:
    import json

    from medrdf_gui.modelzoo.testing import write_untrained_model

    card_path = write_untrained_model(tmp_path, name="envelope")
    data = json.loads(card_path.read_text())
    medrdf = {"row": "medrdf", "noise": "salt-pepper", "sigma": 0.1, "denoiser": "median", "kernel": 3,
              "natural_accuracy": 90.0, "images": 27, "attacks": ["pgd100", "autoattack"], "data": "cxr3/test"}
    data["robustness"] = [dict(medrdf, epsilon=2 / 255, worst_case_accuracy=88.9),
                          dict(medrdf, epsilon=8 / 255, worst_case_accuracy=66.7),
                          {**medrdf, "row": "base", "noise": None, "epsilon": 8 / 255, "worst_case_accuracy": 3.0}]
    card_path.write_text(json.dumps(data))
    panel = window.settings_panel
    panel.reset_to_defaults()
    panel.model_selector.load_card_file(card_path)
    assert not panel.envelope_label.isHidden()
    assert "MedRDF keeps ≥ 80 % of diagnoses under attack up to ε = 2/255" in panel.envelope_label.text()
    panel.sigma.setValue(0.2)  # another σ was never measured: the label falls back to the model alone
    assert "not measured under attack" in panel.envelope_label.text() and "3.0 %" in panel.envelope_label.text()
