"""Regenerate the screenshots of the MedRDF Viewer main window.

Besides the main window's states it saves the Attention maps tab (``main-window-gradcam.png``), the About
dialog and the Export report dialog. Run under a real X server (e.g. ``Xvfb :99 & DISPLAY=:99 .venv/bin/python docs/screenshots/capture.py``) or with
``QT_QPA_PLATFORM=offscreen``. It uses the shipped ``cxr3-resnet18`` with n = 1,000 when it is installed in
``models/``; otherwise an UNTRAINED tiny test model written to a temporary folder (the results panel then says
so in amber, and so should any caption of these pictures). Settings go to a temporary INI file, never to the
user's own.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer

from medrdf_gui import paths
from medrdf_gui.app.app_settings import AppSettings
from medrdf_gui.app.main import application
from medrdf_gui.app.main_window import MainWindow
from medrdf_gui.app.dialogs.report_export import ExportReportDialog
from medrdf_gui.modelzoo import DEFAULT_MODEL
from medrdf_gui.modelzoo.testing import write_untrained_model
from medrdf_gui.robust import RobustSettings

HERE = Path(__file__).resolve().parent
DEFAULT_IMAGE = paths.data_dir() / "dicom" / "cxr_cr_mono2_jpeg_baseline_siim_pa_ptx.dcm"
# a dermatoscopic photograph (derma7's 224 px test copy): no header to warn, only the scope check can object
OUT_OF_SCOPE_IMAGE = paths.data_dir() / "derma7" / "test_224" / "akiec" / "ISIC_0026040.jpg"
# AG-Sononet-16's gate maps: the shipped derma7 model on a dermatoscopic photograph of its own test split
GATES_MODEL = "derma7-agsononet16"
GATES_IMAGE = paths.data_dir() / "derma7" / "test_224" / "mel" / "ISIC_0024400.jpg"
# a normal adult film the default model gets right, which the attacked screenshot perturbs
ATTACK_SOURCE = paths.data_dir() / "cxr3" / "test" / "normal" / "Normal-10001.png"


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition, timeout_ms: int = 120_000) -> None:  # noqa: ANN001 - a callable
    waited = 0
    while not condition() and waited < timeout_ms:
        wait(50)
        waited += 50
    if not condition():
        raise TimeoutError("the window did not reach the expected state")


def choose_model(scratch: Path) -> tuple[str, RobustSettings, bool]:
    """(model reference, settings, is_trained)."""
    if (paths.models_dir() / f"{DEFAULT_MODEL}.json").is_file():
        return DEFAULT_MODEL, RobustSettings(n=1000, seed=0), True
    card = write_untrained_model(scratch / "models", name="tiny-untrained", size=32)
    return str(card), RobustSettings(n=50_000, batch_size=100, seed=0), False


MODEL_NOTE_START, MODEL_NOTE_END = "<!-- capture:model -->", "<!-- /capture:model -->"


def model_note(trained: bool, settings: RobustSettings) -> str:
    """The README paragraph that says which model the pictures show (rewritten by every capture)."""
    if trained:
        return (f"These pictures show the trained `{DEFAULT_MODEL}` model (from `models/`) with n = {settings.n:,} "
                "noisy copies, seed 0, and m = 32 Grad-CAM copies. It is a research model, not a medical device.")
    return ("**These pictures were taken with an UNTRAINED test model** (`tiny-untrained`: random weights, 32 × 32 "
            "input, written by `medrdf_gui.modelzoo.testing.write_untrained_model`), because the trained "
            f"`{DEFAULT_MODEL}` was not yet installed in `models/`. Its diagnosis and its attention maps mean "
            f"nothing; the results panel says so in amber. n = {settings.n:,}, seed 0, m = 32 Grad-CAM copies. Once "
            f"`models/{DEFAULT_MODEL}.json` exists, `capture.py` uses it with n = 1,000 instead.")


def analyse(window: MainWindow, image: Path, timeout_ms: int = 120_000) -> None:
    """Open ``image`` on the image tab, run the analysis at the panel's settings and wait for its result."""
    window.viewer_tabs.setCurrentIndex(0)
    window.open_path(image)
    wait(300)
    window.analysis_dock.raise_()
    window.analyze()
    wait_until(lambda: not window.controller.is_running, timeout_ms=timeout_ms)
    wait(300)


def capture_out_of_scope(window: MainWindow, image: Path, out: Path) -> None:
    """``main-window-out-of-scope.png``: an image unlike the model's training data, which the results panel
    reports as outside the model's scope instead of as a diagnosis."""
    analyse(window, image)
    window.grab().save(str(out / "main-window-out-of-scope.png"))


def attacked_png(reference: str, source: Path, scratch: Path) -> Path:
    """``source`` after PGD-20 at ε = 8/255 against the model (white box, seed 0), saved as an 8-bit PNG (the
    rounding moves a pixel by at most 0.5/255 more): what a deliberately perturbed film looks like to the app."""
    import numpy as np
    import torch
    from PIL import Image

    from medrdf_gui.attacks import pgd
    from medrdf_gui.modelzoo import load_model

    model = load_model(reference)
    x = model.input_tensor(source)
    label = model.module(x).argmax(1)
    x_adv = pgd(model.module, x, label, 8 / 255, 20, torch.Generator().manual_seed(0))
    pixels = (x_adv[0, 0].detach().numpy() * 255).round().clip(0, 255).astype(np.uint8)
    path = scratch / f"attacked-{source.stem}.png"
    Image.fromarray(pixels).save(path)
    return path


def capture_attacked(window: MainWindow, image: Path, out: Path) -> None:
    """``main-window-attacked.png``: a film perturbed against the model, analysed at the app's settings."""
    analyse(window, image, timeout_ms=900_000)
    window.grab().save(str(out / "main-window-attacked.png"))


def capture_gate_maps(window: MainWindow, out: Path) -> None:
    """``main-window-gate-maps.png``: the attention-maps page of an attention-gated model, its own gates below
    the Grad-CAM pair."""
    if not window.settings_panel.set_model_reference(GATES_MODEL):
        raise SystemExit(f"model {GATES_MODEL} cannot be used")
    window.settings_panel.set_settings(RobustSettings(n=1000, seed=0))
    analyse(window, GATES_IMAGE, timeout_ms=900_000)
    window.actions.show_maps.trigger()
    wait(400)
    window.grab().save(str(out / "main-window-gate-maps.png"))
    window.viewer_tabs.setCurrentIndex(0)


def update_readme(readme: Path, note: str) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(MODEL_NOTE_START), text.find(MODEL_NOTE_END)
    if start < 0 or end < start:
        print(f"{readme.name}: no {MODEL_NOTE_START} block; model note not updated")
        return
    readme.write_text(f"{text[:start + len(MODEL_NOTE_START)]}\n{note}\n{text[end:]}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--out-of-scope-image", type=Path, default=OUT_OF_SCOPE_IMAGE)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--only-attacked", action="store_true",
                        help="only main-window-attacked.png (the others take minutes on a CPU)")
    parser.add_argument("--only-settings", action="store_true",
                        help="only main-window-settings.png and main-window-caution.png (no analysis; seconds)")
    parser.add_argument("--only-gates", action="store_true",
                        help=f"only main-window-gate-maps.png ({GATES_MODEL}'s gate maps; a minute)")
    args = parser.parse_args()
    app = application()
    scratch = Path(tempfile.mkdtemp(prefix="medrdf-shots-"))
    reference, settings, trained = choose_model(scratch)

    window = MainWindow(AppSettings(scratch / "settings.ini"))
    if not window.settings_panel.set_model_reference(reference):
        raise SystemExit(f"model {reference} cannot be used")
    window.settings_panel.set_settings(settings)
    window.resize(args.width, args.height)
    window.show()
    wait(300)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only_gates:
        capture_gate_maps(window, args.out)
        window.close()
        app.quit()
        return 0
    if args.only_attacked:
        capture_attacked(window, attacked_png(reference, ATTACK_SOURCE, scratch), args.out)
        print(window.results_panel.result.reason() if window.results_panel.result else "no result")
        window.close()
        app.quit()
        return 0
    window.grab().save(str(args.out / "main-window-welcome.png"))

    window.open_path(args.image)
    wait(300)
    window.grab().save(str(args.out / "main-window-open.png"))

    window.settings_dock.raise_()
    wait(200)
    window.grab().save(str(args.out / "main-window-settings.png"))
    # a defence the model was measured to fail with: the panel cautions before any run
    window.settings_panel.set_settings(settings.with_(noise="gaussian", denoiser="gaussian", kernel=1.0))
    wait(200)
    window.grab().save(str(args.out / "main-window-caution.png"))
    window.settings_panel.set_settings(settings)
    if args.only_settings:
        window.close()
        app.quit()
        return 0
    window.analysis_dock.raise_()

    window.analyze()
    progress = window.results_panel.progress
    wait_until(lambda: "left" in progress.label.text() or not window.controller.is_running)
    wait(300)
    if window.controller.is_running:
        window.grab().save(str(args.out / "main-window-running.png"))
    wait_until(lambda: not window.controller.is_running)
    wait(300)
    window.grab().save(str(args.out / "main-window-result.png"))

    window.actions.show_maps.trigger()  # the Attention maps tab: base and defended Grad-CAM, synced panes
    wait(400)
    window.grab().save(str(args.out / "main-window-gradcam.png"))
    window.viewer_tabs.setCurrentIndex(0)

    about = window.show_about()
    wait(300)
    about.grab().save(str(args.out / "about-dialog.png"))
    about.close()

    export = ExportReportDialog(window.results_panel.result, Path.home(), "The report shows the attention maps of "
                                "this analysis (m = 32 copies): nothing is recomputed.", window)
    export.show()
    wait(300)
    export.grab().save(str(args.out / "export-report-dialog.png"))
    export.close()
    if args.out_of_scope_image.is_file():
        capture_out_of_scope(window, args.out_of_scope_image, args.out)
    if trained and ATTACK_SOURCE.is_file():
        capture_attacked(window, attacked_png(reference, ATTACK_SOURCE, scratch), args.out)
    if (paths.models_dir() / f"{GATES_MODEL}.json").is_file() and GATES_IMAGE.is_file():
        capture_gate_maps(window, args.out)
    if (args.out / "README.md").is_file():
        update_readme(args.out / "README.md", model_note(trained, settings))
    print(f"model: {reference} ({'trained' if trained else 'UNTRAINED test model'})")
    print(window.results_panel.result.reason() if window.results_panel.result else "no result")
    window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
