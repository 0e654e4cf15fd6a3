"""The case catalogue and the grading pipeline's own guarantees (the corpus of submissions is test_corpus.py)."""

import shutil
import subprocess
import sys

import pytest

from autograder import registry
from autograder.config import GraderConfig
from autograder.grade import LEFT_BEHIND, grade
from autograder.homework import manifest
from autograder.registry import Case, all_cases, problem_points, rng
from tests.helpers import ROOT
from tests.optional_tools import require


def test_a_problems_points_follow_its_cases_with_no_other_edit(monkeypatch):
    # Points are derived from the cases' weights: a case added to a problem raises its points, and nothing else.
    before = problem_points()
    assert set(before) == {problem.number for problem in manifest().problems} and all(
        points > 0 for points in before.values()
    )
    extra = Case("3.99", "an added case", 1.5, lambda submission, g: None)
    monkeypatch.setattr(registry, "_REGISTRY", [*registry._REGISTRY, extra])
    after = problem_points()
    assert after["3"] == before["3"] + 1.5 and {p: v for p, v in after.items() if p != "3"} == {
        p: v for p, v in before.items() if p != "3"
    }


def test_every_problem_has_public_and_hidden_cases_and_numbers_start_with_the_problem():
    cases = all_cases()
    for problem in problem_points():
        own = [c for c in cases if c.number.startswith(problem + ".")]
        assert any(c.public for c in own) and any(not c.public for c in own), problem
    assert all(c.number.split(".")[0] in problem_points() and len(c.number.split(".")) == 2 for c in cases)


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
        "import sys; from autograder.grade import LEFT_BEHIND, grade; results = grade('reference'); "
        "print(results.score, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'purification', 'attention', 'kernel_attention', 'transformer')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == [str(sum(problem_points().values())), "[]"], done.stdout + done.stderr


def test_workers_running_at_once_never_share_a_user():
    # Each worker kills every process of its user after a case: two workers sharing one would kill each other's cases.
    import os

    from autograder.sandbox import WarmWorker

    require(os.geteuid() == 0, "workers get their own users only when the grader runs as root (CI does)")
    with WarmWorker() as first, WarmWorker() as second:
        assert first.settings["uid"] != second.settings["uid"]


def wrapped_attention(tmp_path, source):
    """The reference, with its attention.py kept as _honest_attention.py under a wrapper `source`."""
    folder = tmp_path / "submission"
    shutil.copytree(
        ROOT / "reference", folder, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "notebook_helpers.py")
    )
    (folder / "attention.py").rename(folder / "_honest_attention.py")
    (folder / "attention.py").write_text(source)
    return folder


def graded_on(folder, *numbers):
    """number -> TestResult of grading `folder` on those cases only (staff entries included)."""
    return {t.number: t for t in grade(folder, cases=[case for case in all_cases() if case.number in numbers]).tests}


RECORDER = """
import numpy as np
from _honest_attention import *  # noqa: F401,F403
from _honest_attention import softmax_attention as honest

SEEN = []  # every Q this process has been given


def softmax_attention(Q, K, V):
    SEEN.append(np.asarray(Q).shape)
    print("seen so far:", SEEN)
    return honest(Q, K, V)
"""


@pytest.mark.parametrize("process_per_case", [False, True])
def test_hidden_inputs_never_reach_a_visible_output(tmp_path, process_per_case):
    # A submission that remembers every input it is given and prints them all: the visible case's
    # printout may only ever hold the visible case's own input, in either way of running cases.
    folder = wrapped_attention(tmp_path, RECORDER)
    problem4 = [case for case in all_cases() if case.problem == "4"]
    tests = {t.number: t for t in grade(folder, GraderConfig(process_per_case=process_per_case), cases=problem4).tests}
    assert all(tests[case.number].status == "passed" for case in problem4)
    public = next(case for case in problem4 if case.public and case.name.startswith("softmax"))
    public_shape = public.build(None, rng(public.number))[0].args[0].shape
    assert f"seen so far: [{public_shape}]" in tests["4.1"].output
    assert tests["4.1"].output.count("seen so far") == 1


THREAD_STARTER = """
import threading
import time

from _honest_attention import *  # noqa: F401,F403
from _honest_attention import argmax_attention as honest_argmax, softmax_attention as honest_softmax


def argmax_attention(q, K, V):
    threading.Thread(target=lambda: time.sleep(60), daemon=True).start()  # left running after the case
    return honest_argmax(q, K, V)


def softmax_attention(Q, K, V):
    print("threads:", threading.active_count())
    return honest_softmax(Q, K, V)
"""


def test_a_case_that_leaves_a_thread_running_ends_its_child(tmp_path):
    # 3.1 and 4.1 share the visible cases' child; the thread 3.1 leaves must not be there in 4.1.
    folder = wrapped_attention(tmp_path, THREAD_STARTER)
    tests = graded_on(folder, "3.1", "4.1")
    assert tests["3.1"].status == "passed" and tests["4.1"].status == "passed"
    assert "threads: 1" in tests["4.1"].output
    assert tests["3.1"].behaviour == LEFT_BEHIND and not tests["4.1"].behaviour  # flagged for staff, costs nothing
    assert "case 3.1: left a process or thread running" in tests["0.2"].output


FD_LISTER = """
import os

from _honest_attention import *  # noqa: F401,F403
from _honest_attention import softmax_attention as honest


def softmax_attention(Q, K, V):
    names = sorted(os.listdir("/proc/self/fd"), key=int)  # the listing itself holds one descriptor while it runs
    print("descriptors:", names, "gone:", [name for name in names if not os.path.exists(f"/proc/self/fd/{name}")])
    return honest(Q, K, V)
"""
GRADE_4_1 = """
import sys
from autograder.registry import all_cases
from autograder.grade import grade
tests = {t.number: t for t in grade(sys.argv[1], cases=[c for c in all_cases() if c.number == "4.1"]).tests}
print(tests["4.1"].status, repr(tests["4.1"].output))
"""


@pytest.mark.parametrize("as_student", [False, True], ids=["as root, namespaces", "not root"])
def test_student_code_holds_no_descriptor_but_its_stdio(tmp_path, as_student):
    # Everything the worker holds (its channel to the grading process, pipes, lock files) is closed
    # before student code runs: only 0, 1 and 2 remain, plus the one os.listdir opened and closed.
    folder = wrapped_attention(tmp_path, FD_LISTER)
    if as_student:
        tmp_path.chmod(0o755)
        command = [
            "unshare",
            "--user",
            "--map-user=1000",
            "--map-group=1000",
            sys.executable,
            "-c",
            GRADE_4_1,
            str(folder),
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        status, output = done.stdout.split(" ", 1)
    else:
        test = graded_on(folder, "4.1")["4.1"]
        status, output = test.status, repr(test.output)
    assert status == "passed"
    assert "descriptors: ['0', '1', '2', '3'] gone: ['3']" in output


LOAD_BREAKER = """
import numpy

from _honest_attention import *  # noqa: F401,F403
from _honest_attention import argmax_attention as honest_argmax


def argmax_attention(q, K, V):
    numpy.load = None  # the child's own numpy: the next case could not even read its inputs here
    return honest_argmax(q, K, V)
"""


def test_a_case_that_breaks_the_childs_set_up_does_not_cost_the_next_case(tmp_path):
    folder = wrapped_attention(tmp_path, LOAD_BREAKER)
    tests = graded_on(folder, "3.1", "4.1")
    assert tests["3.1"].status == "passed" and tests["4.1"].status == "passed", tests["4.1"].output
    assert "0.2" not in tests  # no grader error for staff to chase


HARD_CODED_SCALE = """
from _honest_attention import *  # noqa: F401,F403


def attention_scale(d):
    return 4.0  # the public case's answer for d = 16, whatever d is
"""


def test_a_public_answer_right_only_on_its_own_inputs_scores_zero_and_says_why(tmp_path):
    # 4.8 asks for d = 16; its twin asks for a fresh d. Right on the first alone is worth nothing, and the
    # student is told why without seeing the fresh input; an honest answer keeps its points.
    tests = graded_on(wrapped_attention(tmp_path, HARD_CODED_SCALE), "4.8", "4.9")
    assert tests["4.8"].score == 0 and tests["4.8"].status == "failed" and "is it hard-coded?" in tests["4.8"].output
    assert tests["4.8"].category == "wrong value" and tests["4.9"].status == "failed"
    honest = graded_on(ROOT / "reference", "4.8", "4.9")
    assert honest["4.8"].score == 0.5 and honest["4.8"].output.startswith(
        "output matches the expected value\n\nInputs:"
    )
