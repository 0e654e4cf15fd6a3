"""End to end: fixture submissions graded by the real pipeline, each losing points only where it is wrong."""
import json
import subprocess
import sys

import pytest

from autograder.cases import PROBLEM_POINTS, all_cases
from autograder.config import GraderConfig
from autograder.grade import grade, problem_scores
from autograder.results import to_gradescope_dict
from autograder.sandbox import WarmWorker
from tests.helpers import ROOT
from tests.submissions import FIXTURES, make_submission

CONFIG = GraderConfig(case_timeout=3.0)  # shorter than the default so the hanging fixture stays quick


@pytest.fixture(scope="module")
def worker():
    with WarmWorker(CONFIG) as shared:
        yield shared


@pytest.fixture(scope="module")
def graded(worker, tmp_path_factory):
    """Every fixture graded once, by name (a shared warm worker, as regrade would use)."""
    parent = tmp_path_factory.mktemp("submissions")
    return {name: grade(make_submission(name, parent), CONFIG, worker=worker) for name in FIXTURES}


def test_case_weights_add_up_to_the_problem_points():
    for problem, points in PROBLEM_POINTS.items():
        assert sum(c.weight for c in all_cases() if c.problem == problem) == pytest.approx(points), problem


def test_every_problem_has_public_and_hidden_cases_and_numbers_start_with_the_problem():
    cases = all_cases()
    for problem in PROBLEM_POINTS:
        own = [c for c in cases if c.number.startswith(problem + ".")]
        assert any(c.public for c in own) and any(not c.public for c in own), problem
    assert all(c.number.split(".")[0] in PROBLEM_POINTS and len(c.number.split(".")) == 2 for c in cases)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_loses_points_only_in_its_problems(graded, name):
    results, fixture = graded[name], FIXTURES[name]
    scores = problem_scores(results.tests)
    assert set(scores) == set(PROBLEM_POINTS)
    for problem, (score, top) in scores.items():
        assert top == PROBLEM_POINTS[problem]
        if problem in fixture.lost:
            assert score < top, f"problem {problem} should lose points"
        else:
            assert score == top, f"problem {problem} lost points: " + "; ".join(
                f"{t.number} {t.category}: {t.output[:200]}" for t in results.tests if t.number.startswith(problem + ".") and t.status != "passed")
    by_number = {t.number: t for t in results.tests}
    for number, category in fixture.categories.items():
        accepted = category if isinstance(category, tuple) else (category,)
        assert by_number[number].category in accepted, (number, by_number[number].output)
    assert not any(t.category == "grader error" for t in results.tests)
    staff = [t for t in results.tests if t.number.startswith("0.")]
    assert [t.number for t in staff] == ["0.1"] and staff[0].visibility == "hidden" and staff[0].max_score == 0


def test_reference_scores_full_marks_and_template_zero(graded):
    assert graded["nested_reference"].score == sum(PROBLEM_POINTS.values())
    assert graded["template"].score == 0


def test_hidden_cases_reveal_only_a_category(graded):
    for test, case in zip(graded["p4_unstable_softmax"].tests, all_cases(), strict=False):
        if not case.public:
            assert test.output in ("Passed.", "Failed: wrong value."), test.output


def test_public_failure_says_expected_and_given(graded):
    shape = {t.number: t for t in graded["column_instead_of_row"].tests}["3.1"]
    assert "expected output of shape (3,), got shape (3, 1)" in shape.output
    value = {t.number: t for t in graded["p2_scaled_by_d"].tests}["2.1"]
    assert "expected" in value.output and "got" in value.output and "at index" in value.output
    exception = {t.number: t for t in graded["syntax_error"].tests}["3.1"]
    assert "SyntaxError" in exception.output and "attention.py" in exception.output
    assert "Traceback" not in exception.output and "worker.py" not in exception.output  # trimmed to the student's files
    weights = {t.number: t for t in graded["p2_soft_content"].tests}["2.8"]
    assert "of 1092 sequences wrong, e.g. [" in weights.output


def test_log_only_submission_earns_all_of_problem_2(graded):
    assert problem_scores(graded["log_only"].tests)["2"] == (20, 20)


# Golden results: the exact results.json of the reference and the template, refreshed only with --update-golden.
GOLDEN = {"nested_reference": ROOT / "tests" / "golden" / "reference_results.json", "template": ROOT / "tests" / "golden" / "template_results.json"}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_results_match_golden_file(graded, name, request):
    produced = to_gradescope_dict(graded[name])
    produced.pop("execution_time")
    produced["tests"] = [t for t in produced["tests"] if not t["number"].startswith("0.")]  # staff notes depend on the machine
    path = GOLDEN[name]
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(produced, indent=2) + "\n")
    assert produced == json.loads(path.read_text())


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
