"""The stratified adaptive-vs-fixed comparison script: its bound and its bookkeeping."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_sampling.py"
spec = importlib.util.spec_from_file_location("compare_sampling", SCRIPT)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def record(file: str, mode: str, counts: list[int], n: int = 10_000, verdict: str = "accept", top: int = 0,
           rm_low: float | None = 2.5, abstained: bool = False) -> dict:
    return {"file": file, "label": 0, "mode": mode, "n": n, "n_used": sum(counts), "batch_size": 100,
            "alpha": 0.001, "threshold": 1.0, "counts": counts, "top": top, "abstained": abstained,
            "verdict": verdict, "rm": 0.0, "rm_interval": None if rm_low is None else [rm_low, 3.0]}


def test_derived_bound_is_the_cs_error_plus_hoeffding() -> None:
    r = record("a", "adaptive", [100, 0, 0], rm_low=1.06)
    margin = 0.06 / 3
    assert compare.derived_bound(r) == pytest.approx(0.0005 + 2 * math.exp(-10_000 * margin**2 / 2))
    assert compare.derived_bound(record("a", "adaptive", [100, 0, 0], rm_low=2.5)) == pytest.approx(0.0005)


@pytest.mark.parametrize("changes", [dict(rm_low=1.0), dict(verdict="re-evaluate"), dict(counts=[9000, 1000, 0])])
def test_no_bound_without_an_early_accept_above_the_threshold(changes: dict) -> None:
    kwargs = dict(counts=[100, 0, 0]) | changes
    assert compare.derived_bound(record("a", "adaptive", **kwargs)) == 1.0


def test_summary_compares_each_stratum(tmp_path: Path, capsys) -> None:
    rows = [
        record("capped", "adaptive", [6000, 4000, 0], rm_low=None, verdict="re-evaluate"),  # exact: fixed agrees
        record("close", "adaptive", [400, 0, 0], rm_low=1.02),
        record("close", "fixed", [9990, 10, 0], verdict="accept"),
        record("clear", "adaptive", [100, 0, 0]),
        record("clear", "fixed", [10_000, 0, 0]),
        record("unchecked", "adaptive", [100, 0, 0]),
        record("wrong", "adaptive", [300, 0, 0], rm_low=1.01),
        record("wrong", "fixed", [6000, 4000, 0], verdict="re-evaluate"),
    ]
    (tmp_path / compare.RECORDS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    compare.cmd_summary(SimpleNamespace(out=tmp_path, bound=1e-3))
    out = capsys.readouterr().out
    assert "fixed 50,000 · adaptive 10,900" in out
    assert "exact: 1 images, verdict identical on 1/1" in out
    assert "close: 2 images, verdict identical on 1/2" in out
    assert "bounded: 2 images, verdict identical on 1/1" in out
    assert "identical verdicts: 3/4 compared" in out and "≥ 79.99 %" in out
