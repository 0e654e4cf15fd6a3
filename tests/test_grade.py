"""The case catalogue and the grading pipeline's own guarantees (the corpus of submissions is test_corpus.py)."""
import subprocess
import sys

import pytest

from autograder.cases import PROBLEM_POINTS, all_cases
from autograder.config import GraderConfig
from autograder.grade import grade
from tests.helpers import ROOT


def test_case_weights_add_up_to_the_problem_points():
    for problem, points in PROBLEM_POINTS.items():
        assert sum(c.weight for c in all_cases() if c.problem == problem) == pytest.approx(points), problem


def test_every_problem_has_public_and_hidden_cases_and_numbers_start_with_the_problem():
    cases = all_cases()
    for problem in PROBLEM_POINTS:
        own = [c for c in cases if c.number.startswith(problem + ".")]
        assert any(c.public for c in own) and any(not c.public for c in own), problem
    assert all(c.number.split(".")[0] in PROBLEM_POINTS and len(c.number.split(".")) == 2 for c in cases)


def test_a_worker_that_cannot_start_is_the_graders_fault(tmp_path):
    # A start-up limit no worker can meet: every case that needs student code is a grader error,
    # the student is told to contact staff, and staff get a hidden entry with the reason.
    results = grade(ROOT / "reference", GraderConfig(worker_start_timeout=0.001))
    by_number = {t.number: t for t in results.tests}
    assert by_number["1.1"].category == "grader error" and "contact course staff" in by_number["1.1"].output
    assert by_number["2.10"].category == "passed"  # log checks need no student code
    staff = by_number["0.2"]
    assert staff.visibility == "hidden" and "did not start" in staff.output


def test_grading_process_imports_neither_torch_nor_student_code():
    # Student code runs only in worker children, and the parent stays light: no torch.
    code = (
        "import sys; from autograder.grade import grade; results = grade('reference'); "
        "print(results.score, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'purification', 'attention', 'kernel_attention', 'transformer')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["60.0", "[]"], done.stdout + done.stderr


def test_workers_running_at_once_never_share_a_user():
    # Each worker kills every process of its user after a case: two workers sharing one would kill each other's cases.
    import os

    from autograder.sandbox import WarmWorker

    if os.geteuid() != 0:
        pytest.skip("workers get their own users only when the grader runs as root")
    with WarmWorker() as first, WarmWorker() as second:
        assert first.settings["uid"] != second.settings["uid"]
