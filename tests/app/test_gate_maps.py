"""The attention-maps page shows an attention-gated network's own gates below the Grad-CAM pair, and nothing more
for a network without gates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrdf_gui.app.view.heatmap import overlay_pixels
from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo.testing import write_untrained_model


@pytest.fixture(scope="module")
def agsononet_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained grey AG-Sononet-16 at 32×32 (gates on 8×8 and 4×4 grids, gated by 2×2)."""
    return write_untrained_model(tmp_path_factory.mktemp("models"), name="ag-untrained", size=32,
                                 architecture="agsononet16")


def test_gate_panes_show_the_models_own_attention(analysis_window, finish_run, agsononet_card, cxr_png) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(2)
    finish_run(window)  # the tiny CNN first: no gates, no gate panes
    panel = window.maps_panel
    assert panel.gates_row.isHidden() and panel.default_maps().maps.gates == {}

    assert window.settings_panel.model_selector.load_card_file(agsononet_card)
    finish_run(window)
    shown = panel.default_maps()
    shape = load_study(cxr_png).shape
    assert list(shown.maps.gates) == ["layer3", "layer4"] and not panel.gates_row.isHidden()
    for (name, values), title, pane in zip(shown.maps.gates.items(), panel.gate_titles, panel.gate_panes):
        assert values.shape == shape and values.dtype == np.float32 and 0.0 <= values.min() <= values.max() <= 1.0
        assert pane.map_values is values and not pane.isHidden() and name in title.text()
        assert np.array_equal(shown.gate_overlays[name], overlay_pixels(values))
        assert pane.image_size() == (shape[1], shape[0]) and pane.overlay_opacity == panel.base_pane.overlay_opacity
    panel.overlay_check.setChecked(False)
    assert not any(pane.overlay_visible for pane in panel.all_panes)
