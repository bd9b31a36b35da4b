"""The flag tables are exact functions of the records: hand-made records with known answers."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from medrdf_gui.attacks import tables

ROW = "MedRDF salt-pepper + MF"


def rec(file: str, attack: str, correct: bool, verdict: str, rm_verdict: str | None = None,
        alerts: list[str] | None = None, row: str = ROW) -> dict:
    return {"file": file, "attack": attack, "row": row, "label": 0, "correct": correct, "abstained": False,
            "pred": 0 if correct else 1, "rm": 2.0, "rm_verdict": rm_verdict or verdict, "verdict": verdict,
            "alerts": alerts or [], "base_label": 0}


RECORDS = [
    # a: clean right and accepted; pgd flips it silently; cw is caught by an alert
    rec("a", "natural", True, "accept"), rec("a", "pgd", False, "accept"),
    rec("a", "cw", False, "re-evaluate", "accept", ["base-disagreement"]),
    # b: clean right but RE-EVALUATE (close vote); pgd right; cw wrong and flagged by RM
    rec("b", "natural", True, "re-evaluate"), rec("b", "pgd", True, "accept"), rec("b", "cw", False, "re-evaluate"),
    # c: clean right, accepted; attacks fail; a false alarm on clean would show here: none
    rec("c", "natural", True, "accept"), rec("c", "pgd", True, "accept"), rec("c", "cw", True, "accept"),
    # d: clean wrong and accepted (a natural silent error); only natural measured: incomplete for flips
    rec("d", "natural", False, "accept"),
]


def test_flag_shares_split_the_test_set_in_four() -> None:
    pgd = [r for r in RECORDS if r["attack"] == "pgd"]
    shares = tables.flag_shares(pgd)
    assert shares.images == 3
    assert (shares.c_r, shares.c_not_r, shares.not_c_not_r, shares.not_c_r) == pytest.approx((200 / 3, 0, 0, 100 / 3))
    cw = [r for r in RECORDS if r["attack"] == "cw"]
    assert tables.flag_shares(cw, "rm_verdict").not_c_r == pytest.approx(100 / 3)  # the paper's rule misses a
    assert tables.flag_shares(cw, "verdict").not_c_r == 0.0  # the alert catches it


def test_silent_flips_are_worst_case_per_image_over_complete_images() -> None:
    flips = tables.silent_flips(RECORDS, ROW, ["natural", "pgd", "cw"])
    assert flips.images == 3  # d lacks its attacks
    assert flips.silent == pytest.approx(100 / 3)  # only a, by pgd
    assert flips.wrong == pytest.approx(200 / 3)  # a and b
    assert flips.clean_correct_accepted == pytest.approx(200 / 3)  # a and c
    by_rm = tables.silent_flips(RECORDS, ROW, ["natural", "pgd", "cw"], rule="rm_verdict")
    assert by_rm.silent == pytest.approx(100 / 3)


def test_silent_flips_on_clean_records_alone_measure_the_clean_figure_only() -> None:
    natural = [r for r in RECORDS if r["attack"] == "natural"]
    flips = tables.silent_flips(natural, ROW, ["natural"])
    assert flips.images == 4 and flips.clean_correct_accepted == pytest.approx(50.0)  # a and c of a, b, c, d
    assert math.isnan(flips.silent) and math.isnan(flips.wrong)  # no attack ran: no figure, not 0 %


def test_alert_detection_counts_catches_and_false_alarms() -> None:
    header, rows = tables.alert_detection(RECORDS, ROW, ["natural", "pgd", "cw"])
    table = {r[0]: r[1:] for r in rows}
    assert header[1:] == ["False alarms (clean, correct)", "Caught: pgd", "Caught: cw", "Caught: pooled"]
    assert table["alert base-disagreement"] == ["0.0 (3)", "0.0 (1)", "50.0 (2)", "33.3 (3)"]
    assert table["final flag RE-EVALUATE"] == ["33.3 (3)", "0.0 (1)", "100.0 (2)", "66.7 (3)"]
    assert table["RM < threshold or abstained (paper)"][2] == "50.0 (2)"


def test_records_without_the_flag_are_left_out_and_later_records_replace_earlier(tmp_path: Path) -> None:
    old = {"file": "a", "attack": "natural", "row": ROW, "label": 0, "correct": True, "abstained": False}
    path = tmp_path / "records.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for r in [old, *RECORDS, rec("a", "pgd", True, "accept")]:
            fh.write(json.dumps(r) + "\n")
    loaded = tables.load_records([path])
    assert len(loaded) == len(RECORDS)
    assert tables.silent_flips(loaded, ROW, ["natural", "pgd"]).silent == 0.0
    header, rows = tables.table_ix(loaded, ROW, ["natural", "pgd", "cw", "square"])
    assert [r[0] for r in rows] == ["natural", "pgd", "cw"]  # no records for square: no row
    assert "| natural | 4 |" in tables.markdown(header, rows)


def test_accuracy_table_counts_images_and_worst_case() -> None:
    header, rows = tables.accuracy_table(RECORDS, ["natural", "pgd", "cw"])
    assert header == ["Model", "natural", "pgd", "cw", "Worst case"]
    assert rows == [[ROW, "75.0 (4)", "66.7 (3)", "33.3 (3)", "33.3 (3)"]]  # only c survives every attack


def test_balanced_accuracy_weighs_each_class_equally_and_single_draw_reads_p_label() -> None:
    recs = [dict(rec(f, "natural", ok, "accept"), label=label, p_label=p)
            for f, label, ok, p in [("a", 0, True, 0.9), ("b", 0, True, 0.8), ("c", 0, True, 0.7), ("d", 1, False, 0.1)]]
    recs.append(dict(rec("d", "pgd", False, "accept"), label=1, p_label=0.0))
    recs.append(dict(rec("a", "pgd", True, "accept"), label=0, p_label=0.6))
    _, plain = tables.accuracy_table(recs, ["natural", "pgd"])
    _, balanced = tables.accuracy_table(recs, ["natural", "pgd"], balanced=True)
    assert plain == [[ROW, "75.0 (4)", "50.0 (2)", "50.0 (2)"]]
    assert balanced == [[ROW, "50.0 (4)", "50.0 (2)", "50.0 (2)"]]  # class 0: 100 %, class 1: 0 %
    header, single = tables.accuracy_table(recs, ["natural", "pgd"], value="p_label")
    assert header == ["Model", "natural", "pgd"] and single == [[ROW, "62.5 (4)", "30.0 (2)"]]
    assert tables.accuracy_table(RECORDS, ["natural"], value="p_label")[1] == []  # no p_label: no row


def test_score_table_gives_quartiles_and_shares_above_the_threshold() -> None:
    recs = [dict(rec(f, "pgd", ok, "accept"), ood_score=s)
            for f, ok, s in [("a", False, 9.0), ("b", False, 1.0), ("c", True, 2.0), ("d", True, 3.0)]]
    recs.append(dict(rec("a", "natural", True, "accept"), ood_score=None))  # no scope statistics: left out
    header, rows = tables.score_table(recs, ROW, ["natural", "pgd"], "ood_score", threshold=2.5)
    assert header[-2:] == ["> 2.5: all", "> 2.5: wrong ones"]
    assert rows == [["pgd", "4", "2", "3", "3", "9", "50.0 (4)", "50.0 (2)"]]
    assert tables.score_table(recs, ROW, ["pgd"], "ood_score")[0][-1] == "max"  # no threshold: no shares


def test_sigma_eps_table_is_table_i_with_each_columns_envelope() -> None:
    def r(file: str, attack: str, correct: bool, sigma: float | None) -> dict:
        row = "Base model" if sigma is None else f"MedRDF salt-pepper σ {sigma:g} + MF"
        return {"file": file, "attack": attack, "row": row, "label": 0, "correct": correct, "sigma": sigma}

    def run(outcomes: dict[tuple[str, float | None], list[bool]]) -> list[dict]:
        recs = []
        for (attack, sigma), correct in outcomes.items():
            recs += [r(f"img{i}", attack, c, sigma) for i, c in enumerate(correct)]
        return recs

    ok, five = [True] * 5, [True] * 4 + [False]  # 100 % and 80 %
    eps2 = run({("natural", None): ok, ("pgd100", None): five, ("natural", 0.1): ok, ("pgd100", 0.1): ok,
                ("natural", 0.3): five, ("pgd100", 0.3): five})
    eps8 = run({("natural", None): ok, ("pgd100", None): [False] * 5, ("natural", 0.1): ok,
                ("pgd100", 0.1): five, ("eot", 0.1): [True, True, True, False, False],
                ("natural", 0.3): five, ("pgd100", 0.3): five})
    header, lines, envelopes = tables.sigma_eps_table([(8.0, eps8), (2.0, eps2)])
    assert header == ["ε", "Base model", "σ = 0.1", "σ = 0.3"]
    assert lines[0] == ["0 (natural)", "100.0 (5)", "100.0 (5)", "80.0 (5)"]
    assert lines[1] == ["2/255", "80.0 (5)", "100.0 (5)", "80.0 (5)"]
    # ε = 8: σ 0.1 has pgd100 only in both runs, so its worst case is pgd100's 80 %; eot is not shared
    assert lines[2] == ["8/255", "0.0 (5)", "80.0 (5)", "80.0 (5)"]
    by_row = {e["row"]: e for e in envelopes}
    assert by_row["Base model"]["epsilon"] == 2.0 and by_row["Base model"]["first_below"]["epsilon"] == 8.0
    assert by_row["MedRDF salt-pepper σ 0.1 + MF"]["epsilon"] == 8.0
    assert by_row["MedRDF salt-pepper σ 0.1 + MF"]["first_below"] is None
    _, only_eot, _ = tables.sigma_eps_table([(8.0, eps8)], attacks=["eot"])
    assert only_eot[1][2] == "60.0 (5)" and only_eot[1][1] == "—"  # the base model has no eot records


def test_with_detectors_keeps_only_images_voted_with_both_statistics() -> None:
    scored = dict(rec("a", "natural", True, "accept"), ood_score=3.0, squeeze_score=0.1)
    partly = dict(rec("b", "natural", True, "accept"), ood_score=3.0, squeeze_score=None)
    old = rec("c", "natural", True, "accept")
    base = {"file": "c", "attack": "natural", "row": "Base model", "label": 0, "correct": True, "abstained": False}
    kept = tables.with_detectors([scored, partly, old, base, rec("a", "pgd", False, "accept") | {"ood_score": 9.0,
                                                                                                "squeeze_score": 0.2}], ROW)
    assert {r["file"] for r in kept} == {"a"} and len(kept) == 2  # b lacks one statistic, c both (its base row goes too)


def test_auroc_is_the_mann_whitney_probability_with_half_ties() -> None:
    assert tables.auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert tables.auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert tables.auroc([1.0, 1.0], [1.0]) == 0.5
    assert tables.auroc([0.0, 2.0], [1.0, 3.0]) == 0.75  # 3 of the 4 pairs ordered right
    assert math.isnan(tables.auroc([], [1.0]))


def test_roc_curve_runs_from_nothing_flagged_to_everything_flagged() -> None:
    fpr, tpr = tables.roc_curve([0.0, 2.0], [1.0, 3.0])
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert list(zip(fpr, tpr)) == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    assert all(a <= b for a, b in zip(fpr, fpr[1:])) and all(a <= b for a, b in zip(tpr, tpr[1:]))


def test_roc_table_separates_wrong_attacked_from_clean_correct_and_reads_the_operating_point() -> None:
    recs = [dict(rec(f, "natural", ok, "accept"), squeeze_score=s)
            for f, ok, s in [("a", True, 0.1), ("b", True, 0.2), ("c", True, 0.9), ("d", False, 5.0)]]
    # d's clean diagnosis is wrong: not a negative; c's attacked diagnosis stays right: not a positive
    recs += [dict(rec(f, "pgd", ok, "accept"), squeeze_score=s)
             for f, ok, s in [("a", False, 0.8), ("b", False, 0.3), ("c", True, 0.0)]]
    recs += [dict(rec("a", "cw", False, "accept"), squeeze_score=None)]  # no statistic: left out
    negatives, positives = tables.score_separation(recs, ROW, "pgd", "squeeze_score")
    assert sorted(negatives) == [0.1, 0.2, 0.9] and sorted(positives) == [0.3, 0.8]
    header, rows = tables.roc_table(recs, ROW, ["natural", "pgd", "cw"], "squeeze_score", threshold=0.5)
    assert header[-2:] == ["Caught at > 0.5", "False alarms at > 0.5"]
    # 0.3 beats 0.1 and 0.2; 0.8 beats 0.1 and 0.2: 4 of 6 pairs
    assert rows == [["pgd", "2", "3", "0.667", "50.0", "33.3"]]  # cw has no positive with a score: no row
