"""Which defence settings were validated for a model, and a plain caution when the chosen ones were not.

MedRDF is retrain-less: the model never saw noisy images in training, so a noise/denoiser pair the model was not
measured with can turn it into a different, worse classifier. On ``cxr3-resnet18`` every pair but
salt-and-pepper + median makes it call normal films abnormal (docs/robustness.md), and the vote is then
*decisive*, so the RM flag says "accept". A model card therefore records, in ``defences``, the natural accuracy
each measured pair keeps (written by ``medrdf evaluate --update-card``), and every result carries a caution when
its settings are either measured to cost too much accuracy or were never measured at all.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .settings import RobustSettings

# Largest drop in natural accuracy, in points against the base model on the same images, that still counts as
# validated: above the ±2–3 point sampling error of a ~100–400-image measurement, well below the 25–65 points
# the unmatched pairs cost on cxr3.
MAX_ACCURACY_LOSS = 5.0

NOISE_TEXT = {"gaussian": "gaussian", "salt-pepper": "salt-and-pepper", "poisson": "poisson",
              "resize-pad": "random resize + pad", "rotate": "random rotation"}


def describe_defence(noise: str, sigma: float, denoiser: str, kernel: float) -> str:
    """'salt-and-pepper σ = 0.1 + 3×3 median' and the like, for messages."""
    text = f"{NOISE_TEXT.get(noise, noise)} σ = {sigma:g}"
    if denoiser == "median":
        return f"{text} + {int(kernel)}×{int(kernel)} median"
    if denoiser == "gaussian":
        return f"{text} + gaussian smoothing σ = {kernel:g} px"
    return f"{text} without a denoiser"


def _same_defence(entry: dict[str, Any], settings: RobustSettings) -> bool:
    if entry.get("noise") != settings.noise or entry.get("denoiser") != settings.denoiser:
        return False
    if not math.isclose(float(entry.get("sigma", -1)), settings.sigma, rel_tol=1e-6, abs_tol=1e-9):
        return False
    return settings.denoiser == "none" or math.isclose(float(entry.get("kernel", -1)), float(settings.kernel))


def _entry_text(entry: dict[str, Any]) -> str:
    return describe_defence(entry["noise"], float(entry["sigma"]), entry["denoiser"], float(entry.get("kernel", 0)))


def _validated(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["base_accuracy"] - e["natural_accuracy"] <= MAX_ACCURACY_LOSS]


def best_validated(card: Any) -> dict[str, Any] | None:
    """The validated setting that kept the most natural accuracy (what "use the validated setting" applies)."""
    good = _validated(getattr(card, "defences", None) or [])
    return max(good, key=lambda e: e["natural_accuracy"] - e["base_accuracy"]) if good else None


def defence_caution(card: Any, settings: RobustSettings) -> str | None:
    """A one-paragraph caution when ``settings``' noise and denoiser were not validated for the model on
    ``card``; None when they were, or when the card records no measurements at all (nothing to compare with)."""
    entries = list(getattr(card, "defences", None) or [])
    if not entries:
        return None
    chosen = describe_defence(settings.noise, settings.sigma, settings.denoiser, settings.kernel)
    good = _validated(entries)
    advice = ("Validated for this model: " + "; ".join(
        f"{_entry_text(e)} ({e['natural_accuracy']:.1f} % natural accuracy)" for e in good) + ".") if good else (
        "No setting measured for this model keeps its natural accuracy.")
    match = next((e for e in entries if _same_defence(e, settings)), None)
    if match is None:
        return f"{chosen[0].upper()}{chosen[1:]} was never validated for this model: its verdicts may be wrong " \
               f"even when the vote is decisive. {advice}"
    loss = match["base_accuracy"] - match["natural_accuracy"]
    if loss <= MAX_ACCURACY_LOSS:
        return None
    return (f"With {chosen} this model's natural accuracy was {match['natural_accuracy']:.1f} % against "
            f"{match['base_accuracy']:.1f} % without MedRDF ({match['images']} test images): its verdicts are "
            f"unreliable even when the vote is decisive. {advice}")


# Worst-case accuracy (%) at ε = 8/255 below which the notice says the model is not protected: below half of the
# diagnoses an attacker who targets the image decides most outcomes.
PROTECTED_FLOOR = 50.0
REFERENCE_EPS = 8 / 255  # the paper's budget, the one the notice quotes when it was measured


def _measured_row(card: Any, settings: RobustSettings) -> tuple[list[dict[str, Any]], bool]:
    """The card's robustness entries that describe a result with ``settings``: the MedRDF row of the same setting
    when measured, else the base model's row. Second value: whether it is the MedRDF row."""
    entries = list(getattr(card, "robustness", None) or [])
    medrdf = [e for e in entries if e.get("row") == "medrdf" and _same_defence(e, settings)]
    return (medrdf, True) if medrdf else ([e for e in entries if e.get("row") == "base"], False)


def _robustness_entry(card: Any, settings: RobustSettings) -> tuple[dict[str, Any] | None, bool]:
    """The measurement of :func:`_measured_row` that the notice quotes: at the reference ε when measured, else the
    largest ε; the one on the most images. Second value: whether it is the MedRDF row."""
    pool, is_medrdf = _measured_row(card, settings)
    if not pool:
        return None, False
    at_reference = [e for e in pool if math.isclose(float(e["epsilon"]), REFERENCE_EPS, rel_tol=1e-3)]
    pool = at_reference or [max(pool, key=lambda e: float(e["epsilon"]))]
    return max(pool, key=lambda e: e["images"]), is_medrdf


def protection_notice(card: Any, settings: RobustSettings) -> str | None:
    """The standing notice beside every verdict: how well the model (with MedRDF at these settings, when that
    was measured) kept its diagnoses under attack. A fact about the model, not an alert about the image.
    None only when there is no card (a bare module passed to the engine)."""
    if card is None:
        return None
    entry, is_medrdf = _robustness_entry(card, settings)
    if entry is None:
        return ("Not measured against a deliberate perturbation: treat this model's diagnoses as unprotected "
                "against adversarial images.")
    what = "With these settings, MedRDF" if is_medrdf else "The model alone (these settings were not measured)"
    attacks = entry.get("attacks") or []
    eps = float(entry["epsilon"]) * 255
    acc = float(entry["worst_case_accuracy"])
    fact = (f"{what} kept {acc:.1f} % of {entry['images']} {entry.get('data', 'test')} diagnoses when each image "
            f"met the worst of {len(attacks)} attack{'s' if len(attacks) != 1 else ''} at ε = {eps:g}/255.")
    if acc < PROTECTED_FLOOR:
        return f"Not protected against a deliberate perturbation. {fact}"
    return f"Measured protection: {fact}"


def _eps_text(eps: float) -> str:
    return f"{eps * 255:g}/255"


def envelope_text(card: Any, settings: RobustSettings) -> str | None:
    """What the chosen setting buys, from the card's envelope (modelzoo/card.py ``envelopes``): the largest ε up
    to which every measured budget kept ≥ 80 % of diagnoses under attack. The MedRDF row of ``settings`` when it
    was measured, else the model alone, as in :func:`protection_notice`; None when nothing was measured."""
    from ..modelzoo.card import envelopes

    pool, is_medrdf = _measured_row(card, settings)
    rows = envelopes(pool)
    if not rows:
        return None
    env = rows[0]
    who = "With these settings, MedRDF" if is_medrdf else "These settings were not measured under attack; the model alone"
    floor = f"{env['floor']:g} %"
    below = env["first_below"]
    below_text = "" if below is None else (
        f"; {below['worst_case_accuracy']:.1f} % at {_eps_text(below['epsilon'])} ({below['images']} images)")
    if env["epsilon"] == 0.0:
        return (f"{who} kept less than {floor} of diagnoses under attack already at {_eps_text(below['epsilon'])}, "
                f"the smallest budget measured ({below['worst_case_accuracy']:.1f} %, {below['images']} images).")
    reach = "up to" if below is not None else "up to at least"
    largest = "" if below is not None else ", the largest budget measured"
    attacks = env["attacks"]
    against = (f"worst of {len(attacks)} attacks" if len(attacks) > 2
               else f"against {' and '.join(attacks) or 'no attack'} only")
    return (f"{who} keeps ≥ {floor} of diagnoses under attack {reach} ε = {_eps_text(env['epsilon'])}{largest} "
            f"({env['worst_case_accuracy']:.1f} % on {env['images']} images, {against}{below_text}).")


def protection_summary(card: Any) -> str:
    """A few words on the model's measured protection for lists (``medrdf models``, the model selector, About): the
    best worst-case accuracy recorded at the reference ε, by the base model or under MedRDF."""
    entries = [e for e in (getattr(card, "robustness", None) or [])
               if math.isclose(float(e["epsilon"]), REFERENCE_EPS, rel_tol=1e-3)]
    if not entries:
        return "robustness not measured"
    best = max(entries, key=lambda e: (e["worst_case_accuracy"], e["images"]))
    how = "alone" if best["row"] == "base" else "with MedRDF " + describe_defence(
        best["noise"], float(best["sigma"]), best["denoiser"], float(best.get("kernel", 0)))
    verdict = "not protected" if best["worst_case_accuracy"] < PROTECTED_FLOOR else "protected"
    return (f"{verdict}: worst case {best['worst_case_accuracy']:.1f} % at ε = 8/255 ({how}, "
            f"{best['images']} images)")
