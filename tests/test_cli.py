"""`python -m autograder`: help, `grade` writing results.json, `check` on the public cases with readable output."""

import json
import shutil
import subprocess
import sys

import pytest

from autograder.check_summary import WHAT_CHECK_CANNOT_SEE
from autograder.registry import problem_points
from tests.helpers import ROOT

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def verdicts(stdout):
    """case number -> PASS, FAIL or SKIP (an optional task not attempted), read from the report lines."""
    return {
        line.split()[1]: line.split()[0] for line in stdout.splitlines() if line.strip()[:4] in ("PASS", "FAIL", "SKIP")
    }


def detail(stdout, number):
    """The message lines printed under a failing case."""
    lines = stdout.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.strip()[:4] in ("PASS", "FAIL", "SKIP") and line.split()[1] == number
    )
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 22):
            break
        block.append(line.strip())
    return "\n".join(block)


def test_help_lists_the_spec_verbs():
    done = run_cli("--help")
    assert done.returncode == 0
    assert "check" in done.stdout and "grade" in done.stdout


def test_bad_command_line_is_a_usage_error():
    done = run_cli("grade")
    assert done.returncode == 2 and "usage" in done.stderr


@pytest.fixture(scope="module")
def reference_check():
    return run_cli("check", "reference")


def test_reference_passes_every_public_case(reference_check):
    assert reference_check.returncode == 0, reference_check.stdout + reference_check.stderr
    assert set(verdicts(reference_check.stdout).values()) == {"PASS"}
    assert "All public cases pass" in reference_check.stdout
    assert "hidden tests" in reference_check.stdout


def test_public_cases_cover_every_problem(reference_check):
    assert {number.split(".")[0] for number in verdicts(reference_check.stdout)} == {"1", "2", "3", "4", "5", "6"}


def test_template_fails_every_case_with_not_implemented():
    done = run_cli("check", "student_template", "--verbose")
    assert done.returncode == 1
    found = verdicts(done.stdout)
    assert found.pop("2.14") == "SKIP"  # the optional task's stub: not attempted, neither passed nor failed
    assert found and set(found.values()) == {"FAIL"}
    for number in found:
        if not number.startswith("2.1") or number == "2.1":  # log checks say the log is missing
            assert "NotImplementedError" in detail(done.stdout, number), number


def test_check_explains_the_first_failure_of_each_problem_and_points_to_verbose():
    done = run_cli("check", "student_template")
    assert done.returncode == 1 and "\033[" not in done.stdout  # not a terminal: no colour
    found = verdicts(done.stdout)
    assert (
        found["2.14"] == "SKIP" and detail(done.stdout, "2.14") == ""
    )  # the optional task left out: nothing to explain
    explained = {
        number
        for number, verdict in found.items()
        if verdict == "FAIL" and detail(done.stdout, number) != "(details: --verbose)"
    }
    assert explained == {"1.1", "2.1", "3.1", "4.1", "5.1", "6.1"}
    assert "NotImplementedError" in detail(done.stdout, "4.1")
    assert done.stdout.rstrip().endswith(WHAT_CHECK_CANNOT_SEE) and "fresh inputs" in WHAT_CHECK_CANNOT_SEE


@pytest.mark.parametrize(
    "choice, environment, coloured", [("always", {}, True), ("never", {}, False), ("auto", {}, False)]
)  # auto: a pipe is no terminal
def test_check_colour_choice(choice, environment, coloured, monkeypatch):
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    done = run_cli("check", "reference", "--color", choice)
    assert done.returncode == 0
    assert ("\033[32mPASS\033[0m" in done.stdout) is coloured and ("\033[" in done.stdout) is coloured


@pytest.mark.parametrize("environment, coloured", [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False)])
def test_auto_colour_on_a_terminal_respects_no_color_and_dumb_terminals(environment, coloured, monkeypatch):
    from autograder import cli

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: True)
    assert cli.use_colour("auto") is coloured


def test_nested_folder_and_missing_files(tmp_path):
    # A zip upload may nest the files in one folder; a missing file costs only its own cases.
    nested = tmp_path / "upload" / "hw9"
    nested.mkdir(parents=True)
    shutil.copy(ROOT / "reference" / "attention.py", nested / "attention.py")
    done = run_cli("check", str(tmp_path / "upload"))
    assert done.returncode == 1
    found = verdicts(done.stdout)
    assert {n for n, v in found.items() if v == "PASS"} == {n for n in found if n[0] in "34"}
    assert detail(done.stdout, "1.1") == "purification.py is missing from the submission"


def test_a_folder_with_no_submission_fails_every_case(tmp_path):
    done = run_cli("check", str(tmp_path))
    assert done.returncode == 1
    assert "none of purification.py" in detail(done.stdout, "1.1")


def test_student_code_cannot_import_the_reference(tmp_path):
    # The worker's sys.path holds the submission, not the repository: `import reference` fails there.
    (tmp_path / "attention.py").write_text("import reference.attention as r\nargmax_attention = r.argmax_attention\n")
    done = run_cli("check", str(tmp_path))
    assert "No module named 'reference'" in detail(done.stdout, "3.1")


def test_a_wrong_answer_says_what_was_expected_and_what_was_given(tmp_path):
    source = (ROOT / "reference" / "attention.py").read_text()
    (tmp_path / "attention.py").write_text(source.replace("return math.sqrt(d)", "return float(d)"))
    done = run_cli("check", str(tmp_path))
    assert verdicts(done.stdout)["4.8"] == "FAIL"
    assert "expected 4, got 16" in detail(done.stdout, "4.8")


def test_grade_writes_results_and_exits_zero(tmp_path):
    results = tmp_path / "out" / "results.json"
    done = run_cli("grade", "student_template", "--results", str(results))
    assert done.returncode == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and len(data["tests"]) > 50
    assert "total" in done.stdout and f"0 / {FULL_MARKS:g}" in done.stdout


def test_grading_into_a_shared_folder_leaves_its_mode_alone(tmp_path):
    # Results written to a world-writable folder (like /tmp) must not make the grader lock that folder.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    done = run_cli("grade", "reference", "--results", str(shared / "results.json"))
    assert done.returncode == 0 and (shared / "results.json").is_file()
    assert oct(shared.stat().st_mode & 0o7777) == oct(0o1777)


def test_check_one_problem_writes_its_results(tmp_path):
    # --problem 3 runs problem 3's public cases only; --results holds the same verdicts as the printed lines.
    results = tmp_path / "results.json"
    done = run_cli("check", "student_template", "--problem", "3", "--results", str(results))
    assert done.returncode == 1
    printed = verdicts(done.stdout)
    assert printed and {number.split(".")[0] for number in printed} == {"3"}
    data = json.loads(results.read_text())
    graded = {test["number"]: test["status"] for test in data["tests"] if test["visibility"] != "hidden"}
    assert graded == {number: "failed" for number in printed}
    assert "public cases of problem 3" in done.stdout.splitlines()[0]


@pytest.mark.parametrize("problem", ["7", "0", "two"])
def test_check_refuses_a_problem_that_does_not_exist(problem, tmp_path):
    done = run_cli("check", "student_template", "--problem", problem, "--results", str(tmp_path / "r.json"))
    assert done.returncode == 2 and "--problem" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_grade_shows_staff_every_grader_error_with_its_traceback(tmp_path, monkeypatch, capsys):
    # A case whose builder raises: the student reads "contact course staff" and nothing of the grader; course staff
    # get the traceback on stderr and in the hidden entry 0.2 of results.json.
    import dataclasses
    import re
    import signal

    from autograder import cli
    from autograder import grade as grading
    from autograder.registry import all_cases
    from tests.test_validate import broken_case

    public = dataclasses.replace(broken_case("3.98"), public=True)
    with_broken = [*all_cases(), public, broken_case("3.99")]
    monkeypatch.setattr(grading, "all_cases", lambda: with_broken)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.grade_command(str(ROOT / "reference"), tmp_path / "results.json") == 0
    finally:
        signal.signal(signal.SIGTERM, handler)
    errors = capsys.readouterr().err
    named = {
        n.strip() for found in re.findall(r"^grader error in cases? ([\d., ]+)", errors, re.M) for n in found.split(",")
    }
    assert named == {"3.98", "3.99"}, errors
    assert "Traceback (most recent call last)" in errors and "NameError: name 'expect' is not defined" in errors
    tests = {test["number"]: test for test in json.loads((tmp_path / "results.json").read_text())["tests"]}
    for number in ("3.98", "3.99"):
        assert tests[number]["status"] == "failed" and "contact course staff" in tests[number]["output"]
        assert "NameError" not in tests[number]["output"] and "autograder/" not in tests[number]["output"]
    staff = tests["0.2"]
    assert staff["visibility"] == "hidden"
    assert "case 3.98:" in staff["output"] and "case 3.99:" in staff["output"]
    assert staff["output"].count("NameError: name 'expect' is not defined") == 2


def test_grade_that_fails_whole_prints_the_traceback_to_stderr(tmp_path, monkeypatch, capsys):
    import signal

    from autograder import cli
    from autograder import grade as grading

    def failing_grade(folder):
        raise RuntimeError("the grader broke before any case")

    monkeypatch.setattr(grading, "grade", failing_grade)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.grade_command(str(ROOT / "reference"), tmp_path / "results.json") == 0
    finally:
        signal.signal(signal.SIGTERM, handler)
    errors = capsys.readouterr().err
    assert "Traceback (most recent call last)" in errors and "RuntimeError: the grader broke before any case" in errors
    tests = {test["number"]: test for test in json.loads((tmp_path / "results.json").read_text())["tests"]}
    assert "RuntimeError" not in tests["0.1"]["output"] and "contact course staff" in tests["0.1"]["output"]
    assert tests["0.2"]["visibility"] == "hidden" and "RuntimeError: the grader broke" in tests["0.2"]["output"]
