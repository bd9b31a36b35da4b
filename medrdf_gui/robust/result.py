"""The one Result of a MedRDF run. The CLI's JSON, the GUI panels, the report and the audit log all read this
object; none of them recomputes a number."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def format_p_value(p: float) -> str:
    """p-values for people: scipy returns exactly 0.0 below ~1e-308, which must not read as 'impossible'."""
    return "< 1e-300" if p < 1e-300 else f"{p:.3g}"


def p_value_phrase(p: float) -> str:
    """'p = 0.0123' or 'p < 1e-300', for running text."""
    text = format_p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


@dataclass
class Result:
    diagnosis: str | None  # class name, None when abstained
    label: int | None
    abstained: bool
    classes: list[str]
    counts: dict[str, int]
    n: int
    n_a: int
    n_b: int
    top_class: str  # most voted class, reported even when abstained
    runner_up_class: str
    p_value: float
    rm: float
    rm_threshold: float
    verdict: str  # "accept" | "re-evaluate"
    pa_lower_bound: float  # Hoeffding form (paper eq. 10)
    pa_lower_clopper_pearson: float
    certified_radius: float | None  # gaussian noise only (Cohen et al. 2019), else None
    base_diagnosis: str
    base_label: int
    base_probabilities: dict[str, float]
    settings: dict[str, Any]
    model: dict[str, str]
    device: str
    seed: int
    elapsed_s: float
    n_used: int = 0  # copies actually drawn (= n in fixed mode; ≤ n, the cap, in adaptive mode)
    sampling: str = "fixed"
    rm_interval: tuple[float, float] | None = None  # time-uniform CI of RM when adaptive sampling stopped early
    image_sha256: str = ""  # pixel hash of the analysed image (set by the caller that loaded it)
    display_names: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # the settings were not validated for this model (robust/validation.py); also the first of ``warnings``
    caution: str | None = None
    app_version: str = ""
    timestamp: str = ""

    @property
    def disagrees_with_base(self) -> bool:
        """Base model and defended vote name different classes: a possible adversarial input."""
        return not self.abstained and self.diagnosis != self.base_diagnosis

    @property
    def notes(self) -> list[str]:
        """The warnings other than the settings caution, which every surface shows on its own, more prominently."""
        return [w for w in self.warnings if w != self.caution]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def display(self, class_name: str | None) -> str:
        if class_name is None:
            return "Abstained"
        return self.display_names.get(class_name, class_name)

    def reason(self) -> str:
        """One sentence on why the flag is what it is."""
        if self.abstained:
            return (f"Abstained: the vote {self.n_a} vs {self.n_b} is not significant "
                    f"({p_value_phrase(self.p_value)} > α = {self.settings['alpha']:g}).")
        if self.rm_interval is not None and self.n_used < self.n:
            lo, hi = self.rm_interval
            side = "≥" if self.verdict == "accept" else "<"
            return (f"RM = {self.rm:.2f}, confidence interval [{lo:.2f}, {hi:.2f}] {side} threshold "
                    f"{self.rm_threshold:g}: settled after {self.n_used:,} of at most {self.n:,} copies.")
        if self.verdict == "accept":
            return f"RM = {self.rm:.2f} ≥ threshold {self.rm_threshold:g}: the vote is decisive."
        return f"RM = {self.rm:.2f} < threshold {self.rm_threshold:g}: the vote is too close to trust without review."

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["disagrees_with_base"] = self.disagrees_with_base
        data["reason"] = self.reason()
        return data
