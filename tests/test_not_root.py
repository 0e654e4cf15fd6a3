"""Grading as an ordinary user, as a student's `check` on a laptop runs: honest work scores as it does
as root, and broken or hostile work still costs only its own problems.

The grader runs in a user namespace where it is uid 1000 (`unshare --user --map-user=1000`), so it
takes the path it takes for a student: no worker user, no namespaces, process isolation only.
"""

import json
import subprocess
import sys

import pytest

from autograder.registry import problem_points
from tests.corpus import items, make_submission
from tests.helpers import ROOT
from tests.optional_tools import can_be_a_student, require

AS_A_STUDENT = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
GRADED = [
    "nested_reference",
    "kills_the_worker",
    "leaves_a_process_behind",
    "exits_in_functions",
    "fork_bomb",
    "p5_no_sqrt2",
]
GRADE_ALL = """
import json, sys
from autograder.grade import grade, problem_scores
from autograder.sandbox import WarmWorker
found = {"uid": __import__("os").geteuid(), "items": {}}
with WarmWorker() as worker:
    for folder in sys.argv[1:]:
        results = grade(folder, worker=worker)
        found["items"][folder] = {
            "problems": {p: list(s) for p, s in problem_scores(results.tests).items()},
            "categories": {t.number: t.category for t in results.tests},
            "protections": next(t.output for t in results.tests if t.number == "0.1"),
        }
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def graded_as_a_student(tmp_path_factory):
    require(can_be_a_student(), "this test needs `unshare --user` (util-linux, and user namespaces enabled)")
    parent = tmp_path_factory.mktemp("not_root")
    folders = {name: str(make_submission(name, parent)) for name in GRADED}
    done = subprocess.run(
        [*AS_A_STUDENT, sys.executable, "-c", GRADE_ALL, *folders.values()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    assert found["uid"] == 1000
    return {name: found["items"][folder] for name, folder in folders.items()}


@pytest.mark.parametrize("name", GRADED)
def test_as_a_student_each_item_loses_only_its_own_problems(graded_as_a_student, name):
    spec, graded = items()[name], graded_as_a_student[name]
    assert "not root: isolation is process-only" in graded["protections"]
    for problem, (score, top) in graded["problems"].items():
        assert top == problem_points()[problem]
        if problem in spec.get("lost", "") or problem in spec.get("zero", ""):
            assert score < top, problem
        else:
            assert score == top, (
                problem,
                {n: c for n, c in graded["categories"].items() if n.startswith(problem + ".") and c != "passed"},
            )
    for number, category in spec.get("categories", {}).items():
        assert graded["categories"][number] in (category if isinstance(category, list) else [category]), number
    assert "grader error" not in graded["categories"].values()
