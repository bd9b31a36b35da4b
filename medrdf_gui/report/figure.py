"""The report's page layout with matplotlib's object API (``Figure``, never ``pyplot``): no display, no global
figure state, safe in a worker thread and in a headless CLI.

Everything is placed in figure coordinates on one A4 portrait page, top to bottom: header and disclaimer,
study, result, image with the two Grad-CAM maps, vote histogram and RM gauge, settings, model and run.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from ..alerts import BASE_DISAGREEMENT
from ..imaging import Study
from ..robust.result import Result
from . import content

A4_INCHES = (8.27, 11.69)
MAX_IMAGE_SIDE = 512  # pixels embedded per panel: sharp at the printed size, keeps the PDF well under 1 MB
OVERLAY_WEIGHT = 0.5  # heat-map share of each overlay pixel (pytorch-grad-cam's show_cam_on_image default)
LEFT, RIGHT = 0.06, 0.94
KEY_GREY = "#555555"
NOTE_AMBER = "#8a5300"  # notes and cautions: darker than the screen's amber, legible on white paper
FULL_WIDTH_KEYS = ("Weights SHA-256", "Description")  # too long for half a page
HEAT = colormaps["jet"]


def _resize(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of one float plane to (height, width)."""
    if plane.shape == size:
        return plane.astype(np.float32)
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def _shown_size(shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    scale = min(1.0, MAX_IMAGE_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def panel_images(image: np.ndarray, base: np.ndarray | None, defended: np.ndarray | None) -> list[np.ndarray | None]:
    """The three RGB panels: image, base overlay, defended overlay, at most MAX_IMAGE_SIDE pixels a side.

    Overlays are blended here into one RGB array each, rather than stacked as transparent layers, so that each
    panel is a single embedded image in the PDF.
    """
    size = _shown_size(image.shape[:2])
    if image.ndim == 3:
        rgb = np.stack([_resize(image[..., c], size) for c in range(3)], axis=-1)
    else:
        rgb = np.repeat(_resize(image, size)[..., None], 3, axis=-1)
    rgb = np.clip(rgb, 0.0, 1.0)
    panels: list[np.ndarray | None] = [rgb]
    for cam in (base, defended):
        if cam is None:
            panels.append(None)
            continue
        heat = HEAT(np.clip(_resize(cam, size), 0.0, 1.0))[..., :3]
        panels.append(np.clip((1 - OVERLAY_WEIGHT) * rgb + OVERLAY_WEIGHT * heat, 0.0, 1.0))
    return panels


def _rows(fig: Figure, x: float, y: float, rows: list[content.Row], key_width: float, size: float = 7.5,
          step: float = 0.0135, mono_keys: tuple[str, ...] = ()) -> float:
    """Key/value rows from (x, y) downwards; returns the y below the last row."""
    for key, value in rows:
        fig.text(x, y, key, fontsize=size, color=KEY_GREY, va="top")
        family = "DejaVu Sans Mono" if key in mono_keys else None
        fig.text(x + key_width, y, value, fontsize=size, va="top", family=family)
        y -= step
    return y


def _heading(fig: Figure, x: float, y: float, text: str) -> float:
    fig.text(x, y, text, fontsize=9.5, weight="bold", va="top")
    return y - 0.017


def _header(fig: Figure, version: str, generated: str) -> None:
    fig.text(LEFT, 0.975, "MedRDF Viewer — robust diagnosis report", fontsize=15, weight="bold", va="top")
    fig.text(RIGHT, 0.977, f"MedRDF Viewer {version}\nreport generated {generated}", fontsize=7, ha="right",
             va="top", color=KEY_GREY, linespacing=1.4)
    fig.text(0.5, 0.932, "\n".join(textwrap.wrap(content.DISCLAIMER, 110)), fontsize=8, ha="center", va="center",
             weight="bold", color="#b71c1c", linespacing=1.35,
             bbox={"boxstyle": "round,pad=0.45", "facecolor": "#fdecea", "edgecolor": "#c62828", "linewidth": 0.8})


def _result_block(fig: Figure, result: Result, top: float) -> float:
    """Diagnosis, flag, reason, base model and warnings (left), vote statistics (right); returns the bottom."""
    y = _heading(fig, LEFT, top, "Result")
    fig.text(LEFT, y, "MedRDF diagnosis", fontsize=7.5, color=KEY_GREY, va="top")
    fig.text(LEFT, y - 0.012, result.headline(), fontsize=15 if result.out_of_scope else 18, weight="bold", va="top",
             color=NOTE_AMBER if result.out_of_scope else "black")
    colour = content.FLAG_COLOURS[result.verdict]
    y -= 0.046
    fig.text(LEFT + 0.004, y, content.flag_text(result), fontsize=10, weight="bold", color="white", va="top",
             bbox={"boxstyle": "round,pad=0.35", "facecolor": colour, "edgecolor": colour})
    reason = textwrap.wrap(result.reason(), 44)
    for i, line in enumerate(reason):
        fig.text(LEFT + 0.145, y - i * 0.013, line, fontsize=8, va="top")
    y -= max(0.022, 0.013 * len(reason) + 0.006)
    scope = textwrap.wrap(result.scope_note(), 62)[:3]  # what the model can tell apart at all
    fig.text(LEFT, y, "\n".join(scope), fontsize=7.5, va="top", linespacing=1.25)
    y -= 0.0122 * len(scope) + 0.003
    fig.text(LEFT, y, content.base_text(result), fontsize=8, va="top")
    y -= 0.015
    for alert in result.alerts:  # in full: what keeps the flag from ACCEPT must be read, not guessed at
        red = alert.code == BASE_DISAGREEMENT
        lines = textwrap.wrap(content.alert_text(alert), 80)[:5]
        fig.text(LEFT, y, "\n".join(lines), fontsize=7.5, weight="bold", color="#b71c1c" if red else NOTE_AMBER,
                 va="top", linespacing=1.25)
        y -= 0.0122 * len(lines) + 0.002
    if result.protection:  # the model's measured protection, beside the verdict on every report
        lines = textwrap.wrap(result.protection, 88)[:3]
        fig.text(LEFT, y, "\n".join(lines), fontsize=7, color=KEY_GREY, style="italic", va="top", linespacing=1.25)
        y -= 0.0115 * len(lines) + 0.002
    for warning in result.notes[:2]:
        lines = textwrap.wrap("Note: " + warning, 88)[:3]
        fig.text(LEFT, y, "\n".join(lines), fontsize=7, color=NOTE_AMBER, va="top", linespacing=1.25)
        y -= 0.0115 * len(lines) + 0.002
    stats_x = 0.53
    y_stats = _rows(fig, stats_x, _heading(fig, stats_x, top, "Vote and test"), content.statistics_rows(result),
                    key_width=0.12, size=7.5)
    return min(y, y_stats)


def _image_row(fig: Figure, panels: list[np.ndarray | None], titles: list[str], top: float, max_height: float) -> float:
    """Three equal panels hanging from ``top`` (below their two-line titles), boxes fitted to the image's aspect;
    returns the y below the colour bar."""
    width, gap = 0.27, 0.035
    fig_w, fig_h = fig.get_size_inches()
    rows, cols = panels[0].shape[:2]
    height = min(max_height, width * fig_w / fig_h * rows / cols)
    bottom = top - 0.03 - height
    for i, (panel, title) in enumerate(zip(panels, titles)):
        ax = fig.add_axes((LEFT + i * (width + gap), bottom, width, height))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=7.5, pad=4, linespacing=1.3)
        if panel is None:
            ax.text(0.5, 0.5, "Grad-CAM\nnot computed", ha="center", va="center", fontsize=8, color=KEY_GREY)
            continue
        ax.imshow(panel, interpolation="bilinear")
        for spine in ax.spines.values():
            spine.set_linewidth(0.5)
    cax = fig.add_axes((LEFT + width + gap, bottom - 0.022, 2 * width + gap, 0.008))
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=HEAT), cax=cax, orientation="horizontal")
    bar.set_ticks([0, 0.5, 1])
    bar.ax.tick_params(labelsize=6.5, length=2, pad=1)
    bar.outline.set_linewidth(0.5)
    fig.text(LEFT + width + gap - 0.008, bottom - 0.018, "Grad-CAM attention", fontsize=6.5, ha="right", va="center",
             color=KEY_GREY)
    return bottom - 0.03


def _histogram(fig: Figure, result: Result, rect: tuple[float, float, float, float]) -> None:
    """Votes per class as horizontal bars: class names of any length (and up to 7 classes) stay readable."""
    ax = fig.add_axes(rect)
    names = [result.display(c) for c in result.classes]
    values = [result.counts[c] for c in result.classes]
    colours = ["#1f4e79" if c == result.top_class else "#8eaed3" for c in result.classes]
    bars = ax.barh(range(len(values)), values, color=colours, height=0.65)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=6.5, padding=2)
    ax.set_yticks(range(len(values)), names, fontsize=7 if len(names) <= 4 else 6.5)
    ax.invert_yaxis()  # class order top to bottom, as in the card
    ax.set_xlim(0, max(values + [1]) * 1.2)
    ax.tick_params(axis="x", labelsize=6.5)
    ax.set_xlabel("votes", fontsize=7, labelpad=1)
    drawn = result.n_used or result.n
    ax.set_title(f"Votes of the {drawn:,} noisy, denoised copies drawn" + (f" (cap n = {result.n:,})" if drawn < result.n else ""),
                 fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _gauge(fig: Figure, result: Result, rect: tuple[float, float, float, float]) -> None:
    """RM on its range [0, K] (n_A ≥ n_B, so never negative), the accept region (RM ≥ threshold) green, the rest
    amber; the marker takes the final flag's colour, so an alert shows even where RM is in the green."""
    k = result.num_classes
    ax = fig.add_axes(rect)
    thr = result.rm_threshold
    ax.axvspan(0, thr, color="#ffe0a3")
    ax.axvspan(thr, k, color="#c8e6c9")
    ax.axvline(thr, color="#333333", linestyle="--", linewidth=1)
    ax.text(thr, 1.04, f"threshold {thr:g}", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=6.5)
    rm = float(np.clip(result.rm, 0, k))
    ax.plot([rm], [0.62], marker="D", markersize=7, color=content.FLAG_COLOURS[result.verdict], markeredgecolor="black",
            markeredgewidth=0.6, clip_on=False, zorder=3)
    align = "right" if rm > 0.8 * k else "left" if rm < 0.2 * k else "center"
    nudge = {"right": -0.04 * k, "left": 0.04 * k, "center": 0.0}[align]
    ax.text(rm + nudge, 0.22, f"RM = {result.rm:.2f}", ha=align, va="center", fontsize=7.5, weight="bold", zorder=4)
    ax.set_xlim(0, k)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks(range(0, k + 1))
    ax.tick_params(axis="x", labelsize=6.5)
    ax.set_title("Robust Metric RM = K·(n_A − n_B)/n", fontsize=8, pad=12)
    ax.text(0.03 * k, 0.84, "re-evaluate", fontsize=6.5, color="#8a5a00", va="center")
    ax.text(k - 0.03 * k, 0.84, "accept", fontsize=6.5, color="#1b5e20", va="center", ha="right")


def _panel_titles(result: Result, study: Study, maps: Any | None, deidentify: bool) -> list[str]:
    if maps is None:
        return ["Image", "Base model Grad-CAM", "Defended (MedRDF) Grad-CAM"]
    return ["Image" + ("" if deidentify else f" ({study.modality})"),
            f"Base model Grad-CAM\nclass {result.display(maps.base_class)}",
            f"Defended (MedRDF) Grad-CAM\nclass {result.display(maps.defended_class)}, mean of m = {maps.copies}"]


def _two_columns(fig: Figure, y: float, rows: list[content.Row], key_width: float) -> float:
    """Rows split over the left and right half of the page; returns the y below the longer column."""
    half = (len(rows) + 1) // 2
    return min(_rows(fig, LEFT, y, rows[:half], key_width), _rows(fig, 0.53, y, rows[half:], key_width))


def build_page(result: Result, study: Study, image: np.ndarray, maps: Any | None, card: Any | None, *,
               deidentify: bool, generated: str, version: str) -> Figure:
    """The one-page report as a Figure (``maps`` is an :class:`~medrdf_gui.explain.AttentionMaps` or None).

    Laid out top-down with a running ``y``, so that optional lines (warnings, certified radius, n0) push what
    follows down instead of overlapping it; the image row takes whatever height the rest leaves (≤ 0.2 page).
    """
    fig = Figure(figsize=A4_INCHES)
    _header(fig, version, generated)
    y = _two_columns(fig, _heading(fig, LEFT, 0.9, "Study"), content.study_rows(study, deidentify), 0.11)
    y = _result_block(fig, result, top=y - 0.012)

    copies = maps.copies if maps else None
    settings = content.settings_rows(result, copies, maps.target_layer if maps else None)
    model = content.model_rows(result, card)
    command = textwrap.wrap(content.reproduce_command(result, copies), 95, break_on_hyphens=False)
    below_images = (0.03 + 0.165 + 0.02 + 0.0135 * ((len(settings) + 1) // 2) + 0.025 + 0.0135 * max(len(model), 6)
                    + 0.012 * len(command) + 0.055)
    panels = panel_images(image, maps.base if maps else None, maps.defended if maps else None)
    y = _image_row(fig, panels, _panel_titles(result, study, maps, deidentify), top=y - 0.01,
                   # a result with several alerts leaves less room: the images shrink, the text never overlaps
                   max_height=max(0.05, min(0.2, y - 0.04 - below_images)))

    chart_top = y - 0.03
    _histogram(fig, result, (LEFT + 0.15, chart_top - 0.11, 0.29, 0.11))
    _gauge(fig, result, (0.55, chart_top - 0.075, 0.39, 0.045))

    y = _two_columns(fig, _heading(fig, LEFT, chart_top - 0.145, "Settings (all that is needed to reproduce the result)"),
                     settings, 0.15)
    y = _heading(fig, LEFT, y - 0.008, "Model and run")
    full_width = [row for row in model if row[0] in FULL_WIDTH_KEYS]
    left = [row for row in model if row[0] not in FULL_WIDTH_KEYS]
    y = min(_rows(fig, LEFT, y, left, 0.15), _rows(fig, 0.53, y, content.run_rows(result, generated), 0.15))
    y = _rows(fig, LEFT, y, full_width, 0.15, mono_keys=("Weights SHA-256",))
    fig.text(LEFT, y - 0.006, "Reproduce", fontsize=7.5, color=KEY_GREY, va="top")
    fig.text(LEFT + 0.15, y - 0.006, "\n".join(command), fontsize=6.5, family="DejaVu Sans Mono", va="top",
             linespacing=1.3)
    fig.text(0.5, 0.02, f"{content.DISCLAIMER.split(';')[0]} · MedRDF Viewer {version} · page 1 of 1",
             fontsize=6.5, ha="center", color=KEY_GREY)
    return fig
