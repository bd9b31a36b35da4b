"""The Qt-free helpers of the GUI: time-left estimate, folder stepping, settings fallbacks."""

from __future__ import annotations

from pathlib import Path

from medrdf_gui.app.app_settings import AppSettings
from medrdf_gui.app.analysis.eta import EtaEstimator, format_duration
from medrdf_gui.app.study_navigator import StudyNavigator, list_studies
from medrdf_gui.robust import RobustSettings
from medrdf_gui.robust.settings import APP_DEFAULTS


def test_format_duration() -> None:
    assert format_duration(8.4) == "8 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 180) == "3 h 03 min"


def test_eta_extrapolates_from_the_first_report() -> None:
    now = [100.0]
    eta = EtaEstimator(clock=lambda: now[0])
    assert eta.update(100, 1000) is None  # first report: the reference point only
    now[0] = 102.0
    assert eta.update(300, 1000) == 7.0  # 200 copies in 2 s → 700 copies in 7 s
    assert eta.text(1000, 1000).endswith("finishing")
    assert "1,000 / 1,000 copies" in eta.text(1000, 1000)


def test_navigator_lists_studies_sorted_and_steps(tmp_path: Path) -> None:
    for name in ("b.dcm", "a.png", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jpg").write_bytes(b"x")
    assert [p.name for p in list_studies(tmp_path)] == ["a.png", "b.dcm", "c.jpg"]
    nav = StudyNavigator.for_folder(tmp_path)
    assert nav.current.name == "a.png" and not nav.has_previous() and nav.has_next()
    assert nav.step(1).name == "b.dcm"
    assert nav.position_text() == "Study 2 / 3"
    assert nav.step(5) is None and nav.current.name == "b.dcm"


def test_settings_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    chosen = RobustSettings(noise="gaussian", sigma=0.25, denoiser="gaussian", kernel=1.5, n=1000, n0=50,
                            alpha=0.01, threshold=0.5, batch_size=16, seed=7, device="cpu")
    first = AppSettings(path)
    first.save_robust_settings(chosen)
    first.add_recent_file(tmp_path / "x.png")
    first.sync()
    again = AppSettings(path)
    assert again.robust_settings() == chosen
    assert again.recent_files() == [str((tmp_path / "x.png").resolve())]


def test_garbled_values_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "garbled.ini"
    path.write_text("[robust]\nsigma=banana\nnoise=bogus\nn=2000\nseed=\n\n"
                    "[files]\nrecent=this is not json\n\n[model]\nreference=\n\n"
                    "[window]\ngeometry=garbage\n", encoding="utf-8")
    settings = AppSettings(path)
    loaded = settings.robust_settings()
    defaults = RobustSettings()
    assert loaded.sigma == defaults.sigma and loaded.noise == defaults.noise  # unreadable → default
    assert loaded.n == 2000  # readable values are kept
    assert loaded.seed is None
    assert settings.recent_files() == []
    assert settings.model_reference() is None
    assert settings.window_geometry() is None


def test_values_the_engine_rejects_give_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "invalid.ini"
    path.write_text("[robust]\nn=3\nalpha=0.001\nkernel=4\n", encoding="utf-8")
    assert AppSettings(path).robust_settings() == APP_DEFAULTS


def test_gradcam_copies_setting_falls_back_to_32(tmp_path: Path) -> None:
    for raw, expected in (("banana", 32), ("0", 32), ("5000", 32), ("64", 64)):
        path = tmp_path / f"m-{raw}.ini"
        path.write_text(f"[maps]\ngradcam_copies={raw}\n", encoding="utf-8")
        assert AppSettings(path).gradcam_copies() == expected
    assert AppSettings(tmp_path / "new.ini").gradcam_copies() == 32


def test_overlay_is_packed_for_qt_and_at_most_1024_pixels_a_side() -> None:
    import numpy as np

    from medrdf_gui.app.view.heatmap import colorize, legend_gradient, overlay_pixels, rgb_from_overlay

    cam = np.linspace(0, 1, 1955 * 1841, dtype=np.float32).reshape(1955, 1841)
    cam[0, 0] = np.nan  # a bad value is drawn as 0, never raises
    words = overlay_pixels(cam)
    assert words.shape == (1024, 964) and words.dtype == np.uint32
    assert (words >> 24 == 0xFF).all()  # opaque: opacity is the pane's, not the pixels'
    small = cam[:300, :200]
    assert np.array_equal(rgb_from_overlay(overlay_pixels(small)), colorize(small))  # no resize below 1024
    strip = legend_gradient(64)
    assert strip.shape == (1, 64, 3) and (strip[0, 0] == colorize(np.zeros((1, 1)))[0, 0]).all()
