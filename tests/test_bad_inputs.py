"""`medrdf predict` on the bad-input corpus of tests/bad_inputs.py.

For every bad file: a non-zero exit, exactly one line on stderr naming the problem, no traceback, within 10 s and
under 2 GB peak RSS; the odd-but-good files (16-bit, RGBA and palette PNGs, a CT slice, a deflated DICOM) load and
get a diagnosis. The whole corpus goes through ONE real process (the CLI handles every file and prints one JSON
line per file, ``error`` for refusals); each file is also run alone in-process to check its own stderr line,
and the worst offenders alone in a real process.

Peak RSS is measured per child with ``os.wait4`` (its rusage is the child's own, unlike
``getrusage(RUSAGE_CHILDREN)``, which is the maximum over every child this test process ever reaped), and from a
small launcher process, not from pytest: Linux carries the *parent's* peak RSS into a child's ``ru_maxrss`` when
the child execs (the pre-exec copy of the parent's address space counts), so a child of a pytest process that
had grown to 2 GB read 2.06 GB even for an empty file. The launcher is a fresh interpreter of about 15 MB, so the
CLI's figure is its own.

A path without read permission cannot be made for root (``chmod 000`` does not stop root's reads, and CI runs as
root), so it is simulated in-process: once by ``os.access`` saying no (the loader's up-front check) and once by
``open`` raising PermissionError after the check passed (a permission change between check and use).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bad_inputs import Case, build_corpus
from medrdf_gui.cli import main

MAX_SECONDS_PER_FILE = 10.0
MAX_RSS_BYTES = 2 << 30
BASE_ARGS = ["--n", "20", "--batch-size", "20", "--seed", "0", "--device", "cpu"]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float  # wall clock, including interpreter start-up and any starvation by other programs
    cpu_seconds: float  # user + system CPU time of the child: the work it did, independent of machine load
    max_rss_bytes: int
    timed_out: bool


# Runs argv[2:] as its child, reaps it with os.wait4 and writes the child's own rusage to the file argv[1]; exits
# with the child's status. Its own ru_maxrss inherits pytest's peak, its child's inherits only the launcher's.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, f)
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_cli(*args: str, timeout: float = 120.0) -> Run:
    """Run ``python -m medrdf_gui.cli`` under the launcher and measure its wall time, CPU time and peak RSS."""
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        usage_file = Path(tmp) / "usage.json"
        started = time.monotonic()
        timed_out = False
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(usage_file), sys.executable, "-m",
                                 "medrdf_gui.cli", *args], stdin=stdin, stdout=out, stderr=err,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)  # the launcher and the CLI share the new session's process group
            proc.wait()
        seconds = time.monotonic() - started
        usage = json.loads(usage_file.read_text()) if usage_file.exists() else {"cpu": float("nan"), "maxrss_kb": 0}
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read().decode(), err.read().decode(), seconds,
                   usage["cpu"], usage["maxrss_kb"] * 1024, timed_out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, dicom_dir: Path) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("bad_inputs"), dicom_dir)


def _by_name(corpus: list[Case], name: str) -> Case:
    return next(c for c in corpus if c.name == name)


def _files(corpus: list[Case]) -> list[Case]:
    """Cases that are paths to single files (a folder is expanded by the CLI, so it yields no JSON line)."""
    return [c for c in corpus if not c.path.is_dir()]


def test_the_corpus_covers_the_issue(corpus: list[Case]) -> None:
    names = {c.name for c in corpus}
    for required in ("empty.dcm", "random.dcm", "random.png", "pixeldata_short.dcm", "jpegxl_ts.dcm", "private_ts.dcm",
                     "rtplan.dcm", "sr.dcm", "one_pixel.png", "bomb.png", "empty_folder", "loop.dcm", "grey16.png",
                     "rgba.png", "palette.png", "ct_slice.dcm"):
        assert required in names
    assert sum(c.name.startswith("truncated_") and not c.loads for c in corpus) >= 6
    assert all(c.path.exists() or c.path.is_symlink() for c in corpus)


def test_whole_corpus_in_one_process(corpus: list[Case], tiny_model_card: Path) -> None:
    files = _files(corpus)
    run = run_cli("predict", *[str(c.path) for c in files], "--model", str(tiny_model_card), "--json", *BASE_ARGS)
    assert "Traceback" not in run.stderr and "panicked" not in run.stderr, run.stderr[-2000:]
    assert run.code == 2, run.stderr[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(o["path"]).name for o in lines] == [c.name for c in files], "one JSON line per file, in order"
    refusals = []
    for case, obj in zip(files, lines):
        if case.loads:
            assert "error" not in obj, (case.name, obj["error"])
            assert obj["verdict"] in ("accept", "re-evaluate") and sum(obj["counts"].values()) == 20
            if case.expect:
                assert any(re.search(case.expect, w) for w in obj["warnings"]), (case.name, obj["warnings"])
        else:
            assert "error" in obj, f"{case.name} ({case.note}) was not refused"
            assert re.search(case.expect, obj["error"]), (case.name, obj["error"])
            assert "\n" not in obj["error"]
            refusals.append(f"medrdf: {obj['error']}")
    assert run.stderr.splitlines() == refusals, "exactly one stderr line per refused file, nothing else"
    assert run.max_rss_bytes < MAX_RSS_BYTES, f"peak RSS {run.max_rss_bytes / 2**30:.2f} GB"
    # The time bound is on CPU time, which a busy machine does not inflate; a hang is caught by the timeout.
    assert not run.timed_out, f"no answer within 120 s for {len(files)} files"
    assert run.cpu_seconds < MAX_SECONDS_PER_FILE * len(files)
    assert run.cpu_seconds < 60, f"{run.cpu_seconds:.1f} CPU s for {len(files)} files (wall {run.seconds:.1f} s)"


@pytest.mark.parametrize("name", ["bomb_deflated.dcm", "rle_overrun.dcm"])
def test_worst_offenders_alone(corpus: list[Case], tiny_model_card: Path, name: str) -> None:
    """Alone in a real process, the file that used to take 8.5 GB and the one that crashed the interpreter with
    a Rust panic (a real process is what shows a panic's backtrace, written straight to fd 2)."""
    case = _by_name(corpus, name)
    run = run_cli("predict", str(case.path), "--model", str(tiny_model_card), *BASE_ARGS)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("medrdf: "), run.stderr[-2000:]
    assert re.search(case.expect, run.stderr), run.stderr
    assert not run.timed_out
    assert run.cpu_seconds < MAX_SECONDS_PER_FILE, f"{run.cpu_seconds:.1f} CPU s (wall {run.seconds:.1f} s)"
    assert run.max_rss_bytes < MAX_RSS_BYTES, f"peak RSS {run.max_rss_bytes / 2**30:.2f} GB"


def test_every_file_alone_in_process(corpus: list[Case], tiny_model_card: Path, capfd) -> None:
    """Each file on its own: exit 2 and one stderr line for a bad one (capfd also sees what native libraries
    write to fd 2), exit 0 and nothing on stderr for a good one."""
    for case in corpus:
        code = main(["predict", str(case.path), "--model", str(tiny_model_card), *BASE_ARGS])
        out, err = capfd.readouterr()
        if case.loads:
            assert code == 0 and err == "" and "MedRDF diagnosis" in out, (case.name, err)
        else:
            assert code == 2 and err.count("\n") == 1 and out == "", (case.name, err)
            assert re.search(case.expect, err), (case.name, err)


@pytest.mark.parametrize("image", ["study.dcm", "chest.png"])
def test_unreadable_file_simulated_with_os_access(monkeypatch, capfd, tmp_path: Path, dicom_dir: Path, cxr_png: Path,
                                                  tiny_model_card: Path, image: str) -> None:
    path = tmp_path / image
    path.write_bytes((dicom_dir / "mr_small_uncompressed.dcm" if image.endswith(".dcm") else cxr_png).read_bytes())
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else real_access(p, mode, **kw))
    code = main(["predict", str(path), "--model", str(tiny_model_card), *BASE_ARGS])
    out, err = capfd.readouterr()
    assert code == 2 and out == "" and err == f"medrdf: {image} cannot be read (permission denied).\n"


@pytest.mark.parametrize("image", ["study.dcm", "chest.png"])
def test_unreadable_file_simulated_with_open(monkeypatch, capfd, tmp_path: Path, dicom_dir: Path, cxr_png: Path,
                                             tiny_model_card: Path, image: str) -> None:
    """``os.access`` says yes, then ``open`` says no (permissions changed in between, or an ACL/LSM that access()
    does not model): still one line that says 'permission denied'."""
    path = tmp_path / image
    path.write_bytes((dicom_dir / "mr_small_uncompressed.dcm" if image.endswith(".dcm") else cxr_png).read_bytes())
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)  # pathlib opens through io.open
    code = main(["predict", str(path), "--model", str(tiny_model_card), *BASE_ARGS])
    out, err = capfd.readouterr()
    assert code == 2 and out == "" and err == f"medrdf: {image} cannot be read (permission denied).\n"


def test_bad_files_do_not_stop_the_good_ones(corpus: list[Case], cxr_png: Path, tiny_model_card: Path, capfd) -> None:
    """A refusal in the middle of a batch: the images before and after it still get their verdicts."""
    bad = _by_name(corpus, "rle_overrun.dcm").path
    code = main(["predict", str(cxr_png), str(bad), str(cxr_png), "--model", str(tiny_model_card), "--json", *BASE_ARGS])
    out, err = capfd.readouterr()
    kinds = ["error" if "error" in json.loads(line) else "result" for line in out.splitlines()]
    assert code == 2 and kinds == ["result", "error", "result"] and err.count("\n") == 1
