"""`build student`: the students' zip holds the template and a working `check`, and nothing hidden.

Hidden names, hidden inputs and reference code are derived here from the repository's own
cases and reference, then looked for in every file of the unpacked bundle.
"""

import ast
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from autograder.grade import grade
from autograder.registry import all_cases, public_cases
from autograder.results import to_gradescope_dict
from autograder.secret import InputDraws, submission_digest
from autograder.submission import Submission
from tests.corpus import make_submission
from tests.helpers import ROOT, unpacked_student_bundle

CONVERSION = re.compile(r"^\w+ = np\.asarray\(\w+, dtype=np\.float64\)$")  # input conversion, not a solution
SOLUTION_FILES = ("purification.py", "attention.py", "kernel_attention.py", "transformer.py", "submission_log.json")
GRADE_PUBLIC = (
    "import json, sys; from autograder.grade import grade; from autograder.results import to_gradescope_dict; "
    "print(json.dumps(to_gradescope_dict(grade(sys.argv[1], public_only=True))))"
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The unpacked hw9/ folder of a freshly built student zip."""
    return unpacked_student_bundle(tmp_path_factory.mktemp("student"))


def bundle_texts(bundle):
    return {
        path: path.read_text(errors="replace") for path in bundle.rglob("*") if path.is_file() and path.suffix != ".npz"
    }


def test_bundle_holds_the_template_and_the_runner(bundle):
    for path in (ROOT / "student_template").iterdir():
        if path.is_file() and path.name != "README.md":
            assert (bundle / path.name).read_bytes() == path.read_bytes(), path.name  # the link's content, not a link
    assert "python -m autograder check" in (bundle / "README.md").read_text()
    names = {str(path.relative_to(bundle)) for path in bundle.rglob("*") if path.is_file()}
    assert {
        "autograder/worker.py",
        "autograder/cli.py",
        "autograder/public/cases.json",
        "homework/manifest.yaml",
    } <= names
    assert not any(name.startswith(("reference", "tests", "bench", ".git")) for name in names)
    assert not any(
        name.endswith(
            (
                "problem1.py",
                "problem34.py",
                "problem56.py",
                "problem2_hidden.py",
                "mutants.py",
                "build.py",
                "mistakes.py",
                "report.py",
            )
        )
        for name in names
    )


def test_bundle_names_no_hidden_case(bundle):
    hidden = [case for case in all_cases() if not case.public]
    assert len(hidden) > 30
    for path, text in bundle_texts(bundle).items():
        for case in hidden:
            assert case.name not in text, f"{path} names hidden case {case.number}"
    frozen = json.loads((bundle / "autograder/public/cases.json").read_text())
    assert {record["number"] for record in frozen} < {case.number for case in public_cases()}


def reference_statements():
    """Lines of the reference's solution bodies (not their docstrings, not what the template shares)."""
    template = "".join((ROOT / "student_template" / name).read_text() for name in SOLUTION_FILES[:4])
    lines = set()
    for name in SOLUTION_FILES[:4]:
        source = (ROOT / "reference" / name).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
                for statement in body:
                    for line in ast.get_source_segment(source, statement, padded=False).splitlines():
                        if (
                            len(line.strip()) >= 25
                            and line.strip() not in template
                            and not CONVERSION.match(line.strip())
                        ):
                            lines.add(line.strip())
    return lines


def test_bundle_holds_no_reference_code(bundle):
    lines = reference_statements()
    assert len(lines) > 30
    for path, text in bundle_texts(bundle).items():
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{path} holds reference code: {leaked[:3]}"


def test_bundle_holds_no_hidden_data(bundle):
    reference = Submission(ROOT / "reference", 1 << 20)
    draws = InputDraws(b"bundle test " * 4, submission_digest(reference.root))
    hidden_arrays = []
    for case in all_cases():
        plans = [] if case.public else [case.build(reference, draws.generator("hidden", case.number))]
        plans += [case.twin(reference, draws.generator("twin", case.number))] if callable(case.twin) else []
        for plan in (plan for plan in plans if isinstance(plan, tuple)):
            job, check = plan
            hidden_arrays += [arg for arg in job.args if isinstance(arg, np.ndarray) and arg.size > 1]
            hidden_arrays += (
                [value for value in vars(check).values() if isinstance(value, np.ndarray) and value.size > 1]
                if hasattr(check, "__dict__")
                else []
            )
    assert len(hidden_arrays) > 40
    with np.load(bundle / "autograder/public/cases.npz", allow_pickle=False) as stored:
        shipped = [stored[key] for key in stored.files]
    assert shipped
    for array in shipped:
        assert not any(array.shape == hidden.shape and np.array_equal(array, hidden) for hidden in hidden_arrays)


@pytest.mark.parametrize("name", ["reference", "template", "p6_cosines_first", "p2_soft_content", "log_value_forged"])
def test_bundle_grades_public_cases_as_the_repository_does(bundle, tmp_path, name):
    folder = tmp_path / "reference"
    if name == "reference":
        folder.mkdir()
        for file in SOLUTION_FILES:
            (folder / file).write_bytes((ROOT / "reference" / file).read_bytes())
    else:
        folder = make_submission(name, tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", GRADE_PUBLIC, str(folder)], cwd=bundle, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    from_bundle = json.loads(done.stdout)
    from_repository = to_gradescope_dict(grade(folder, public_only=True))
    graded = [test for test in from_repository["tests"] if test["max_score"] > 0 or test["number"] == "2.14"]
    assert [t for t in from_bundle["tests"] if t["number"] != "0.1"] == [
        t for t in from_repository["tests"] if t["number"] != "0.1"
    ]
    assert from_bundle["score"] == from_repository["score"] and graded


def test_check_from_the_unpacked_bundle(bundle):
    graded = sum(1 for case in public_cases() if case.weight > 0)
    template = subprocess.run(
        [sys.executable, "-m", "autograder", "check"], cwd=bundle, capture_output=True, text=True, timeout=300
    )
    assert template.returncode == 1 and f"{graded} public case(s) failed" in template.stdout, template.stdout[-2000:]
    assert "fresh inputs" in template.stdout.splitlines()[-1]  # says the twins do not run here
    solved = bundle.parent / "solved"
    solved.mkdir()
    for file in SOLUTION_FILES:
        (solved / file).write_bytes((ROOT / "reference" / file).read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(solved)],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "All public cases pass" in done.stdout, done.stdout[-2000:]
    assert "Traceback" not in done.stdout + done.stderr + template.stderr
    grade_verb = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(solved)],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert grade_verb.returncode == 2 and "invalid choice" in grade_verb.stderr  # the bundle only checks
