"""run_autograder leaves a valid Gradescope results.json even when the grader itself cannot run."""

import json
import os
import shutil
import subprocess

from autograder.registry import problem_points
from tests.helpers import ROOT

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out


def test_broken_grader_still_leaves_valid_results(tmp_path):
    # A Gradescope-like tree whose source/ holds no grader at all: `python -m autograder` fails.
    for part in ("source", "submission", "results"):
        (tmp_path / part).mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(tmp_path)}
    done = subprocess.run([str(ROOT / "run_autograder")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    hidden = [t for t in results["tests"] if t["visibility"] == "hidden"]
    assert len(visible) == 1 and "contact course staff" in visible[0]["output"]
    assert len(hidden) == 1 and "exited with status" in hidden[0]["output"]
    assert results["score"] == sum(t["score"] for t in results["tests"]) == 0
    for test in results["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}


def test_gradescope_layout_grades_the_reference_to_full_marks(tmp_path):
    # source/ is this repository (a link), submission/ a copy of the reference, results/ empty.
    (tmp_path / "source").symlink_to(ROOT)
    shutil.copytree(ROOT / "reference", tmp_path / "submission", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "results").mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(tmp_path)}
    done = subprocess.run([str(ROOT / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == FULL_MARKS
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["results.json"]  # no temporary file left behind


def test_only_a_venv_that_setup_sh_completed_is_used(tmp_path):
    # A .venv without its stamp is what an interrupted setup.sh leaves: run_autograder must not grade with it.
    for part in ("source/.venv/bin", "submission", "results", "bin"):
        (tmp_path / part).mkdir(parents=True)
    calls = tmp_path / "calls"
    for fake, status in ((tmp_path / "source/.venv/bin/python", 5), (tmp_path / "bin/python3", 4)):
        fake.write_text(f'#!/bin/sh\necho "$0" >> "{calls}"\nexit {status}\n')
        fake.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name != "AUTOGRADER_PYTHON"}
    env |= {"AUTOGRADER_ROOT": str(tmp_path), "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}

    def run():
        done = subprocess.run([str(ROOT / "run_autograder")], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        results = json.loads((tmp_path / "results" / "results.json").read_text())
        (tmp_path / "results" / "results.json").unlink()
        return next(t["output"] for t in results["tests"] if t["visibility"] == "hidden"), calls.read_text().split()

    hidden, called = run()
    assert called == [str(tmp_path / "bin/python3")]
    assert "exited with status 4" in hidden and "setup.sh did not finish" in hidden
    calls.unlink()
    (tmp_path / "source/.venv/.requirements.sha256").write_text("0" * 64 + "\n")
    hidden, called = run()
    assert called == [".venv/bin/python"]
    assert "exited with status 5" in hidden and "setup.sh did not finish" not in hidden
