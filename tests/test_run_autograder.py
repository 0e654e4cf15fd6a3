"""run_autograder leaves a valid Gradescope results.json even when the grader itself cannot run."""
import json
import os
import shutil
import subprocess

from tests.helpers import ROOT


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
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 60
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["results.json"]  # no temporary file left behind
