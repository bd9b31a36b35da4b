"""scripts/latency.py: which images it draws, and what it reads from `medrdf predict --json`."""

from __future__ import annotations

import importlib.util
import json
import stat
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "latency.py"
spec = importlib.util.spec_from_file_location("latency", SCRIPT)
latency = importlib.util.module_from_spec(spec)
spec.loader.exec_module(latency)


def make_split(root: Path, per_class: dict[str, int]) -> None:
    for name, count in per_class.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{name}-{i}.png").write_bytes(b"")
    (root / "notes.txt").write_text("not a class folder")


def test_sample_is_class_balanced_and_reproducible(tmp_path: Path) -> None:
    make_split(tmp_path, {"a": 5, "b": 7, "c": 2})
    first = latency.sample(tmp_path, 3, seed=0)
    assert [p.parent.name for p in first].count("a") == 3
    assert [p.parent.name for p in first].count("b") == 3
    assert [p.parent.name for p in first].count("c") == 2  # fewer than asked: all of them
    assert latency.sample(tmp_path, 3, seed=0) == first
    assert latency.sample(tmp_path, 3, seed=1) != first


def test_summary_reads_elapsed_copies_and_verdicts_from_predict_json(tmp_path: Path, capsys) -> None:
    make_split(tmp_path / "split", {"a": 2, "b": 2})
    fake = tmp_path / "medrdf"
    # A stand-in for the CLI: one JSON line per image path, elapsed 1, 2, 3, 4 s; the arguments echoed to a file.
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(tmp_path / 'args.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "paths = [a for a in sys.argv[1:] if a.endswith('.png')]\n"
        "for i, p in enumerate(paths, 1):\n"
        "    print(json.dumps({'path': p, 'elapsed_s': float(i), 'n_used': 50 * i, 'device': 'cpu (test)',\n"
        "                      'sampling': 'adaptive', 'verdict': 'accept' if i < 4 else 're-evaluate'}))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert latency.main([str(tmp_path / "split"), "--per-class", "2", "--medrdf", str(fake),
                         "--", "--sampling", "fixed"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 4
    assert summary["elapsed_s"]["median"] == 2.5 and summary["elapsed_s"]["max"] == 4.0
    assert summary["copies"] == {"median": 125.0, "max": 200}
    assert summary["verdicts"] == {"accept": 3, "re-evaluate": 1}
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[:4] == ["predict", "--json", "--sampling", "fixed"]
