"""The engine grades another homework with no edit: tests/homeworks/tiny/, pointed at with AUTOGRADER_HOMEWORK.

Every command runs in a subprocess, as a course would run it. The tiny homework's points are read
here from its case modules' decorators (ast), not from the engine, and its files from its folder.
"""

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

from tests.helpers import ROOT

TINY = ROOT / "tests" / "homeworks" / "tiny"
TINY_MANIFEST = yaml.safe_load((TINY / "homework" / "manifest.yaml").read_text())
HW9_MANIFEST = yaml.safe_load((ROOT / "homework" / "manifest.yaml").read_text())
# names that only Homework 9 has: its student files and its package's modules
HW9_ONLY = {
    *HW9_MANIFEST["student_files"],
    HW9_MANIFEST["log"]["file"],
    *(path.name for path in (ROOT / "homework").rglob("*.py") if path.name != "__init__.py"),
}


def declared_points(public_only=False):
    """problem -> the sum of the weights its cases' @number and @weight decorators declare (of those whose @case says
    public=True only), read from the modules' source."""
    points = {}
    for path in (TINY / "homework" / "cases").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            said = {getattr(d.func, "id", ""): d for d in node.decorator_list if isinstance(d, ast.Call)}
            if "number" not in said:
                continue
            if public_only and not any(k.arg == "public" and ast.literal_eval(k.value) for k in said["case"].keywords):
                continue
            problem = ast.literal_eval(said["number"].args[0]).split(".")[0]
            points[problem] = points.get(problem, 0.0) + ast.literal_eval(said["weight"].args[0])
    return points


def engine(*args, cwd=ROOT, homework=TINY / "homework"):
    """`python -m autograder ARGS` on the tiny homework (homework=None: the one beside autograder/ in cwd)."""
    env = {key: value for key, value in os.environ.items() if key != "AUTOGRADER_HOMEWORK"}
    if homework is not None:
        env["AUTOGRADER_HOMEWORK"] = str(homework)
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def zip_names(path):
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def unpack(path, destination):
    """Extract keeping the run bits, as Gradescope does."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            os.chmod(archive.extract(info, destination), (info.external_attr >> 16) & 0o777)


def test_the_tiny_homework_declares_two_problems_with_points():
    assert sorted(declared_points()) == sorted(problem["number"] for problem in TINY_MANIFEST["problems"])
    assert all(points > 0 for points in declared_points().values())


def test_its_reference_scores_full_marks_derived_from_its_cases(tmp_path):
    done = engine("grade", TINY / "reference", "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    graded = [test for test in results["tests"] if test["max_score"] > 0]
    assert results["score"] == sum(declared_points().values()) == sum(test["max_score"] for test in graded)
    for problem, points in declared_points().items():
        assert sum(test["score"] for test in graded if test["number"].split(".")[0] == problem) == points
    assert all(problem["title"] in done.stdout for problem in TINY_MANIFEST["problems"])


def test_its_template_scores_zero_with_no_grader_error(tmp_path):
    done = engine("grade", TINY / "student_template", "--results", tmp_path / "r.json")
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["score"] == 0 and len([t for t in results["tests"] if t["max_score"] > 0]) == 4
    assert "contact course staff" not in json.dumps(results).lower(), done.stdout
    assert all(
        "NotImplementedError" in test["output"]
        for test in results["tests"]
        if test.get("visibility") != "hidden" and test["max_score"] > 0 and test["number"] in ("1.1", "2.1")
    )


def test_validate_proves_its_suite():
    done = engine("validate", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reference: full marks; student template: zero" in done.stdout
    for problem in declared_points():
        assert f"problem {problem}: " in done.stdout and "BELOW" not in done.stdout


def test_its_gradescope_zip_holds_it_and_nothing_of_homework_9(tmp_path):
    done = engine("build", "gradescope", tmp_path / "gs.zip")
    assert done.returncode == 0, done.stderr
    names = zip_names(tmp_path / "gs.zip")
    own = {
        f"homework/{path.relative_to(TINY / 'homework').as_posix()}"
        for path in (TINY / "homework").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert own <= names and "reference/vectors.py" in names
    assert not [name for name in names if name.rsplit("/", 1)[-1] in HW9_ONLY]
    # Unpacked as Gradescope does, with no override: the zip's own homework/ grades the reference to full marks.
    unpack(tmp_path / "gs.zip", tmp_path / "source")
    shutil.copytree(TINY / "reference", tmp_path / "submission", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **{k: v for k, v in os.environ.items() if k != "AUTOGRADER_HOMEWORK"},
        "AUTOGRADER_ROOT": str(tmp_path),
        "AUTOGRADER_PYTHON": sys.executable,
    }
    ran = subprocess.run(
        [str(tmp_path / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "results" / "results.json").read_text())["score"] == sum(declared_points().values())


def test_its_student_zip_holds_its_template_and_a_working_check(tmp_path):
    done = engine("build", "student", tmp_path / "st.zip")
    assert done.returncode == 0, done.stderr
    folder = TINY_MANIFEST["bundle"]["folder"]
    names = zip_names(tmp_path / "st.zip")
    assert all(name.startswith(folder + "/") for name in names)
    assert f"{folder}/vectors.py" in names and f"{folder}/homework/manifest.yaml" in names
    assert not [name for name in names if name.rsplit("/", 1)[-1] in HW9_ONLY - {"vectors.py"}]
    assert not [
        name for name in names if "/reference/" in name or name.endswith(("scale.py", "dot.py"))
    ]  # frozen, not code
    unpack(tmp_path / "st.zip", tmp_path)
    bundle = tmp_path / folder
    stubs = engine("check", ".", cwd=bundle, homework=None)
    assert stubs.returncode == 1 and "NotImplementedError" in stubs.stdout, stubs.stdout + stubs.stderr
    shutil.copy(TINY / "reference" / "vectors.py", bundle / "vectors.py")
    solved = engine("check", ".", cwd=bundle, homework=None)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    public = sum(declared_points(public_only=True).values())
    assert 0 < public < sum(declared_points().values()) and f"{public:g} / {public:g}" in solved.stdout


@pytest.mark.parametrize("problem", ["1", "2"])
def test_check_takes_its_problem_numbers(problem, tmp_path):
    done = engine("check", TINY / "reference", "--problem", problem)
    assert done.returncode == 0, done.stdout + done.stderr
    other = {"1": "2", "2": "1"}[problem]
    assert f"Problem {problem}:" in done.stdout and f"Problem {other}:" not in done.stdout


def test_its_folders_are_kept_from_student_code_like_homework_9s():
    code = "from autograder.identity import PRIVATE_PATHS; print('\\n'.join(map(str, PRIVATE_PATHS)))"
    env = {**os.environ, "AUTOGRADER_HOMEWORK": str(TINY / "homework")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    private = set(done.stdout.split())
    assert {
        str(TINY / "homework"),
        str(TINY / "reference"),
        str(ROOT / "homework"),
        str(ROOT / "autograder"),
    } <= private


def test_a_manifest_with_an_unknown_key_is_refused(tmp_path):
    copy = tmp_path / "homework"
    shutil.copytree(TINY / "homework", copy)
    (copy / "manifest.yaml").write_text((copy / "manifest.yaml").read_text() + "studnet_files: [typo.py]\n")
    shutil.copytree(TINY / "reference", tmp_path / "reference")
    done = engine("grade", TINY / "reference", "--results", tmp_path / "r.json", homework=copy)
    assert done.returncode != 0 and "studnet_files" in done.stderr and "Extra inputs are not permitted" in done.stderr


def test_regrade_reports_its_problems_and_titles(tmp_path):
    export = tmp_path / "export"
    shutil.copytree(TINY / "reference", export / "solved", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(TINY / "student_template", export / "untouched")
    done = engine("regrade", export, "--jobs", 1, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "out" / "grades.csv") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert float(rows["solved"]["total"]) == sum(declared_points().values()) and float(rows["untouched"]["total"]) == 0
    assert (
        rows["untouched"]["attempt"] == "no attempt"
    )  # the template's stubs, as the manifest's template folder has them
    for problem, points in declared_points().items():
        assert float(rows["solved"][f"problem {problem}"]) == points
    report = (tmp_path / "out" / "report.html").read_text()
    assert TINY_MANIFEST["title"] in report and all(problem["title"] in report for problem in TINY_MANIFEST["problems"])
