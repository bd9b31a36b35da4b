"""The one Result of a MedRDF run. The CLI's JSON, the GUI panels, the report and the audit log all read this
object; none of them recomputes a number.

Two flags: ``rm_verdict`` is the paper's rule (accept when the vote is significant and RM ≥ threshold);
``verdict``, the flag the reader sees, is ``accept`` only when that rule accepts *and* no alert stands
(alerts.py). It is derived, never stored, so it cannot disagree with its parts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .. import alerts as alert_codes
from ..alerts import Alert
from ..modelzoo.scope import classes_sentence

if TYPE_CHECKING:
    from ..imaging import Study


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
    rm_verdict: str  # the paper's RM rule: "accept" | "re-evaluate"
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
    # the settings were not validated for this model (robust/validation.py); also an alert and a warning
    caution: str | None = None
    alerts: list[Alert] = field(default_factory=list)  # evidence against vouching for this result (alerts.py)
    protection: str | None = None  # standing notice: the model's measured protection (robust/validation.py)
    # scope check of the clean image (modelzoo/scope.py): score and threshold are None when the model's card has
    # no scope statistics; ``out_of_scope`` also raises the out-of-scope alert
    out_of_scope: bool = False
    ood_score: float | None = None
    ood_threshold: float | None = None
    # feature-squeezing statistic of the clean image (robust/squeeze.py): None when the card has no detector;
    # above the threshold it raises the squeeze alert
    squeeze_score: float | None = None
    squeeze_threshold: float | None = None
    app_version: str = ""
    timestamp: str = ""

    @property
    def verdict(self) -> str:
        """The flag the reader sees: ACCEPT only when the RM rule accepts and no alert stands."""
        return "accept" if self.rm_verdict == "accept" and not self.alerts else "re-evaluate"

    def add_alerts(self, more: list[Alert]) -> None:
        self.alerts = alert_codes.merge(self.alerts, more)

    def attach_study(self, study: "Study") -> None:
        """Tie the result to the image it was computed on: pixel hash, the loader's warnings and alerts."""
        self.image_sha256 = study.pixel_sha256()
        self.warnings.extend(w for w in study.warnings if w not in self.warnings)
        self.add_alerts(study.alerts)

    @property
    def disagrees_with_base(self) -> bool:
        """Base model and defended vote name different classes: a possible adversarial input."""
        return not self.abstained and self.diagnosis != self.base_diagnosis

    @property
    def notes(self) -> list[str]:
        """The warnings that are not alerts (alerts are shown on their own, more prominently)."""
        shown = {a.message for a in self.alerts}
        return [w for w in self.warnings if w not in shown]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def display(self, class_name: str | None) -> str:
        if class_name is None:
            return "Abstained"
        return self.display_names.get(class_name, class_name)

    def headline(self) -> str:
        """What the reader sees first: the diagnosis, or that there is none because the image is outside the
        model's scope (its vote then names a class the image need not belong to)."""
        return "Outside the model's scope" if self.out_of_scope else self.display(self.diagnosis)

    def scope_note(self) -> str:
        """What the model can tell apart at all, and, out of scope, what its vote said and that it means nothing."""
        sentence = classes_sentence([self.display(c) for c in self.classes])
        if self.out_of_scope:
            return f"Vote, not meaningful for this image: {self.display(self.diagnosis)}. {sentence}"
        return sentence

    def scope_summary(self) -> str:
        """The scope check in one phrase, for the CLI, the results panel and the report alike."""
        if self.ood_score is None or self.ood_threshold is None:
            return "not checked (no scope statistics in the model card)"
        if self.out_of_scope:
            return f"OUT OF SCOPE: score {self.ood_score:.4g} > threshold {self.ood_threshold:.4g}"
        return f"in scope: score {self.ood_score:.4g} ≤ threshold {self.ood_threshold:.4g}"

    def reason(self) -> str:
        """Why the flag is what it is: the RM rule's sentence, preceded by the alerts when they overrule it."""
        if self.rm_verdict == "accept" and self.alerts:
            titles = "; ".join(dict.fromkeys(a.title.lower() for a in self.alerts))
            return f"The vote is decisive (RM = {self.rm:.2f} ≥ {self.rm_threshold:g}), but the app cannot vouch for it: {titles}."
        return self.rm_reason()

    def rm_reason(self) -> str:
        """One sentence on the paper's RM rule: abstention, or RM against the threshold."""
        if self.abstained:
            return (f"Abstained: the vote {self.n_a} vs {self.n_b} is not significant "
                    f"({p_value_phrase(self.p_value)} > α = {self.settings['alpha']:g}).")
        if self.rm_interval is not None and self.n_used < self.n:
            lo, hi = self.rm_interval
            side = "≥" if self.rm_verdict == "accept" else "<"
            return (f"RM = {self.rm:.2f}, confidence interval [{lo:.2f}, {hi:.2f}] {side} threshold "
                    f"{self.rm_threshold:g}: settled after {self.n_used:,} of at most {self.n:,} copies.")
        if self.rm_verdict == "accept":
            return f"RM = {self.rm:.2f} ≥ threshold {self.rm_threshold:g}: the vote is decisive."
        return f"RM = {self.rm:.2f} < threshold {self.rm_threshold:g}: the vote is too close to trust without review."

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        data["alert_codes"] = alert_codes.codes(self.alerts)
        data["disagrees_with_base"] = self.disagrees_with_base
        data["reason"] = self.reason()
        return data
