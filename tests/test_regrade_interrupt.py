"""Ctrl-C during a regrade: exit status 130, no traceback, no worker or folder of it left, the state kept, resumable."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.regrade import STATE, Progress
from tests.corpus import make_submission
from tests.helpers import ROOT


def processes_with(marker):
    """The pids of the processes whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def describe(pid):
    """A process's command line and state, for a failure message."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return [line for line in status if line.split(":")[0] in ("State", "PPid", "Uid", "NSpid")]
    except OSError:
        return "gone"


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def private_tmp():
    """A temporary folder of this test alone (workers may pass through it, as through /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="regrade-interrupt-", dir="/tmp"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path, private_tmp):
    export, out = tmp_path / "export", tmp_path / "out"
    export.mkdir()
    shutil.copytree(make_submission("nested_reference", tmp_path / "made" / "a"), export / "a_first")
    for name in ("b_hangs", "c_hangs"):  # every function hangs: minutes each
        shutil.copytree(make_submission("hangs_in_every_function", tmp_path / "made" / name), export / name)
    command = [sys.executable, "-m", "autograder", "regrade", str(export), "--jobs", "1", "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as stderr:
        regrade = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
        )
    try:
        wait_until(lambda: "grading b_hangs" in errors.read_text(), 300, "b_hangs to start")
        wait_until(lambda: len(processes_with(str(private_tmp))) > 3, 60, "a case of b_hangs to run")
        os.killpg(regrade.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
        regrade.wait(timeout=120)
    finally:
        if regrade.poll() is None:
            os.killpg(regrade.pid, signal.SIGKILL)
    said = errors.read_text()
    assert regrade.returncode == 130, said
    assert "Traceback" not in said
    assert "regrade interrupted" in said and "to resume, run the same command" in said and f"--out {out}" in said
    assert not [entry.name for entry in private_tmp.iterdir() if entry.name.startswith("hw9-")]
    left = {pid: describe(pid) for pid in processes_with(str(private_tmp))}
    assert left == {}  # the slot, its warm worker and the case it ran: all gone
    assert not list(out.glob(".unpacked-*")) and not list(out.glob(".tmp-*"))
    remembered = json.loads((out / STATE).read_text())["submissions"]
    assert set(remembered) == {"a_first"}  # graded before Ctrl-C; the interrupted one is not taken as graded
    for name in ("b_hangs", "c_hangs"):  # the students resubmit something quick, so that the rerun is short
        shutil.rmtree(export / name)
        shutil.copytree(export / "a_first", export / name)
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "graded 2, skipped 1" in again.stdout


def test_the_progress_line_names_the_submission_and_never_says_0_s_while_one_runs(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("autograder.regrade.time.monotonic", lambda: clock[0])
    progress = Progress(total=3, already=0)
    progress.start(0, "alice")
    assert "grading alice (0 s)" in progress.line(clock[0]) and "ETA unknown" in progress.line(clock[0])
    clock[0] = 110.0
    progress.advance(0)  # 10 s a submission: two left, about 20 s
    progress.start(1, "bob\x1b[2J")
    assert progress.line(110.0).endswith("grading bob (0 s)  ETA 20 s")
    line = progress.line(160.0)  # bob is past the estimate
    assert "grading bob (50 s)" in line and "ETA unknown" in line and "0 s" not in line.split("ETA")[1]
    progress.advance(1)
    progress.advance(2)
    assert progress.line(170.0).endswith("3/3  ETA 0 s")
