"""`python -m autograder`: help answers, `check` runs the public cases in workers and reports them."""
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_the_spec_verbs():
    done = run_cli("--help")
    assert done.returncode == 0
    assert "check" in done.stdout and "grade" in done.stdout


@pytest.fixture(scope="module")
def reference_check():
    return run_cli("check", "reference")


def test_reference_passes_every_public_case(reference_check):
    assert reference_check.returncode == 0, reference_check.stdout + reference_check.stderr
    assert "FAIL" not in reference_check.stdout
    assert " 0 failed" in reference_check.stdout


def test_public_cases_cover_every_problem(reference_check):
    numbers = {line.split()[1] for line in reference_check.stdout.splitlines() if line.strip().startswith("PASS")}
    assert {number.split(".")[0] for number in numbers} == {"1", "2", "3", "4", "5", "6"}


def test_template_fails_every_case_with_not_implemented():
    done = run_cli("check", "student_template")
    assert done.returncode == 1
    assert "PASS" not in done.stdout
    fails = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert fails and done.stdout.count("NotImplementedError") == len(fails)


def test_nested_folder_and_missing_files(tmp_path):
    # A zip upload may nest the files in one folder; a missing file costs only its own cases.
    nested = tmp_path / "upload" / "hw9"
    nested.mkdir(parents=True)
    shutil.copy(ROOT / "reference" / "attention.py", nested / "attention.py")
    done = run_cli("check", str(tmp_path / "upload"))
    assert done.returncode == 1
    verdicts = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines() if line.strip()[:4] in ("PASS", "FAIL")}
    assert {n for n, v in verdicts.items() if v == "PASS"} == {n for n in verdicts if n[0] in "34"}
    assert "purification.py is missing from the submission" in done.stdout


def test_a_folder_with_no_submission_is_an_error(tmp_path):
    done = run_cli("check", str(tmp_path))
    assert done.returncode == 2
    assert "none of" in done.stdout


def test_student_code_cannot_import_the_reference(tmp_path):
    # The worker's sys.path holds the submission, not the repository: `import reference` fails there.
    (tmp_path / "attention.py").write_text(
        "import reference.attention as r\nargmax_attention = r.argmax_attention\n"
    )
    done = run_cli("check", str(tmp_path))
    assert "No module named 'reference'" in done.stdout


def test_a_wrong_answer_says_what_was_expected_and_what_was_given(tmp_path):
    source = (ROOT / "reference" / "attention.py").read_text()
    (tmp_path / "attention.py").write_text(source.replace("return math.sqrt(d)", "return float(d)"))
    done = run_cli("check", str(tmp_path))
    line = next(l for l in done.stdout.splitlines() if "4.4" in l)
    detail = done.stdout.splitlines()[done.stdout.splitlines().index(line) + 1]
    assert line.strip().startswith("FAIL")
    assert "expected 4." in detail and "got 16." in detail
