"""`regrade`: a Gradescope export (folder or zip) graded in parallel, one results.json each, a CSV, resumable."""

import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.export import read_metadata
from autograder.registry import problem_points
from tests.corpus import make_submission
from tests.helpers import ROOT

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out

METADATA = """submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '3031'
    :email: ada@example.edu
  :created_at: 2026-10-28 22:01:00.000000000 -07:00
  :score: 0.0
submission_102:
  :submitters:
  - :name: Alan Turing
    :sid: '3032'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '3033'
    :email: grace@example.edu
  :created_at: 2026-10-28 22:05:00.000000000 -07:00
submission_103:
  :submitters:
  - :name: Kurt Godel
    :sid: '3034'
    :email: kurt@example.edu
"""
# submission -> corpus item it holds
CONTENT = {"submission_101": "nested_reference", "submission_102": "template", "submission_103": "exits_in_functions"}


@pytest.fixture()
def export(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "submission_metadata.yml").write_text(METADATA)
    for submission, item in CONTENT.items():
        made = make_submission(item, tmp_path / "made" / submission)
        shutil.copytree(made, folder / submission)
    return folder


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "autograder", "regrade", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def rows(out):
    with open(out / "grades.csv") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_metadata_names_every_submitter(export):
    people = read_metadata(export, notes=[])
    assert [p["name"] for p in people["submission_102"]] == ["Alan Turing", "Grace Hopper"]
    assert people["submission_101"][0] == {"name": "Ada Lovelace", "sid": "3031", "email": "ada@example.edu"}


def test_export_is_graded_and_resumable(export, tmp_path):
    out = tmp_path / "out"
    done = run(export, "--jobs", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "graded 3, skipped 0" in done.stdout and "ETA" in done.stderr
    graded = rows(out)
    assert (
        float(graded["submission_101"]["total"]) == FULL_MARKS
        and graded["submission_101"]["students"] == "Ada Lovelace"
    )
    assert (
        graded["submission_102"]["total"] == "0.0"
        and graded["submission_102"]["emails"] == "alan@example.edu; grace@example.edu"
    )
    assert "crash x2" in graded["submission_103"]["flags"] and float(graded["submission_103"]["problem 4"]) < 5
    assert all((out / name / "results.json").is_file() for name in CONTENT)
    # Interrupted runs resume: what is graded stays, the rest is graded, the CSV lists everything.
    shutil.rmtree(out / "submission_103")
    again = run(export, "--jobs", 2, "--out", out)
    assert "graded 1, skipped 2" in again.stdout
    assert set(rows(out)) == set(CONTENT)


def test_a_zip_export_and_a_plain_folder_of_submissions(export, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in export.rglob("*"):
            bundle.write(path, path.relative_to(export.parent))
    done = run(archive, "--out", tmp_path / "from_zip")
    assert done.returncode == 0 and "graded 3" in done.stdout
    (export / "submission_metadata.yml").unlink()  # a plain folder of submission folders
    plain = run(export, "--out", tmp_path / "plain")
    assert plain.returncode == 0 and set(rows(tmp_path / "plain")) == set(CONTENT)


# ---- resuming, failures and the CSV, with a stand-in grader (no worker: these test regrade itself) ----


class NoWorker:
    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture()
def fake_grader(monkeypatch):
    """grade() replaced by one that reads score.txt (it runs in the forked job slots, which inherit the patch)."""
    import autograder.regrade as regrade_module
    from autograder.results import Results, TestResult

    def grade(folder, worker=None):
        score = float((Path(folder) / "score.txt").read_text())
        return Results(tests=[TestResult(number="1.1", name="stand-in", score=score, max_score=60, status="passed")])

    monkeypatch.setattr(regrade_module, "grade", grade)
    monkeypatch.setattr(regrade_module, "WarmWorker", NoWorker)


def small_export(tmp_path, scores):
    folder = tmp_path / "export"
    for name, score in scores.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "score.txt").write_text(str(score))
    return folder


def test_resume_state_is_keyed_on_content_and_grader_version(tmp_path, fake_grader, monkeypatch):
    import autograder.regrade as regrade_module
    from autograder.regrade import STATE, regrade

    export, out = small_export(tmp_path, {"a": 10, "b": 20}), tmp_path / "out"
    assert regrade(export, out) == (2, 0)
    assert regrade(export, out) == (0, 2)
    (export / "b" / "score.txt").write_text("30")  # a changed submission is graded again
    assert regrade(export, out) == (1, 1) and rows(out)["b"]["total"] == "30.0"
    (export / "a" / "forged").mkdir()  # so is one with anything added
    (export / "a" / "forged" / "summary.json").write_text('{"total": 60}')
    assert regrade(export, out) == (1, 1) and rows(out)["a"]["total"] == "10.0"
    monkeypatch.setattr(regrade_module, "grader_version", lambda: "a new grader")  # a changed grader regrades everyone
    assert regrade(export, out) == (2, 0)
    assert regrade(export, out, force=True) == (2, 0)
    (out / STATE).write_text("{not json")  # a broken state file: everything is graded again, and it is said
    assert regrade(export, out) == (2, 0) and "could not be read" in (out / "regrade-notes.txt").read_text()
    assert regrade(export, out) == (0, 2) and not (out / "regrade-notes.txt").exists()


def test_forged_summaries_in_out_are_never_taken_as_graded(tmp_path, fake_grader):
    from autograder.regrade import regrade

    export, out = small_export(tmp_path, {"a": 0}), tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "summary.json").write_text('{"submission": "a", "total": 60.0, "details": {}}')
    (out / "a" / "results.json").write_text('{"score": 60.0, "tests": []}')
    assert regrade(export, out) == (1, 0) and rows(out)["a"]["total"] == "0.0"


def test_one_submission_failing_never_stops_the_class(tmp_path, fake_grader, monkeypatch):
    import autograder.regrade as regrade_module
    from autograder.regrade import regrade

    export, out = small_export(tmp_path, {"a": 5, "b": 6, "c": 7, "d": 8}), tmp_path / "out"
    (export / "b" / "score.txt").unlink()  # the stand-in grader raises on b
    out.mkdir()
    (out / "c").write_text("a file where c's results folder goes")
    honest_hash = regrade_module.content_hash

    def content_hash(folder, **options):
        if Path(folder).name == "d":
            raise PermissionError("d cannot be read")
        return honest_hash(folder, **options)

    monkeypatch.setattr(regrade_module, "content_hash", content_hash)
    assert regrade(export, out) == (4, 0)
    graded = rows(out)
    assert graded["a"]["total"] == "5.0" and graded["a"]["flags"] == ""
    for name in "bcd":
        assert graded[name]["total"] == "0.0" and "could not be graded" in graded[name]["flags"]  # c's row too
    assert "Autograder error" in (out / "b" / "results.json").read_text()
    assert "d cannot be read" in (out / "d" / "results.json").read_text()
    assert regrade(export, out) == (3, 1)  # what could not be graded is tried again on the next run


def test_csv_cells_are_neutralised_and_numbers_stay_numbers(tmp_path, fake_grader):
    from autograder.regrade import regrade

    export, out = small_export(tmp_path, {"a": 12.5}), tmp_path / "out"
    (export / "submission_metadata.yml").write_text(
        "a:\n  :submitters:\n  - :name: '=cmd|'' /C calc''!A0'\n    :sid: '-1'\n"
    )
    regrade(export, out)
    line = (out / "grades.csv").read_text().splitlines()[1]
    assert line.startswith('"a","a","\'=cmd|\' /C calc\'!A0","","\'-1",12.5,12.5,')  # text quoted, numbers bare
    assert rows(out)["a"]["students"] == "'=cmd|' /C calc'!A0"


def test_out_overlapping_the_export_is_refused_and_nothing_is_written(tmp_path):
    export = small_export(tmp_path, {"a": 1})
    before = sorted(export.rglob("*"))
    done = run(export, "--out", export / "out")
    assert done.returncode == 2 and "overlaps the export" in done.stderr
    assert sorted(export.rglob("*")) == before


def test_times_lateness_attempts_and_syntax_errors_reach_the_csv_and_pages(tmp_path, fake_grader):
    from autograder.regrade import regrade

    export, out = small_export(tmp_path, {"on_time": 0, "late": 30, "broken": 0}), tmp_path / "out"
    (export / "broken" / "attention.py").write_text("def softmax(x:\n")
    (export / "submission_metadata.yml").write_text(
        "on_time:\n  :submitters:\n  - :name: Ada\n  :created_at: 2026-10-28 22:01:00.000000000 -07:00\n"
        "late:\n  :submitters:\n  - :name: Alan\n  :created_at: 2026-10-30 09:00:00 -07:00\n  :lateness: '=1+1'\n"
    )
    regrade(export, out)
    graded = rows(out)
    assert (
        graded["on_time"]["submitted_at"] == "2026-10-28 22:01:00.000000000 -07:00"
        and graded["on_time"]["lateness"] == ""
    )
    assert graded["late"]["lateness"] == "'=1+1"  # neutralised like every text cell
    assert graded["broken"]["submitted_at"] == "" and "syntax error in attention.py" in graded["broken"]["flags"]
    assert [graded[name]["attempt"] for name in ("on_time", "late", "broken")] == [
        "no attempt",
        "attempted",
        "attempted",
    ]
    (out / "late" / "index.html").unlink()  # a page gone: that submission is graded again on the next run
    assert regrade(export, out) == (1, 2) and (out / "late" / "index.html").is_file()
    for name in ("on_time", "late", "broken"):
        page = out / name / "index.html"
        assert page.stat().st_mode & 0o777 == 0o644 and "stand-in" in page.read_text()
    report = (out / "report.html").read_text()
    assert "1 submission with no attempt" in report and "mean 15 / 60" in report  # (30 + 0) / 2: on_time is left out
    assert 'href="late/index.html"' in report and "2026-10-30 09:00:00 -07:00" in report


def test_an_invalid_log_is_flagged_only_when_a_log_was_handed_in():
    from autograder import checks
    from autograder.attempt import Attempt
    from autograder.regrade import submission_notes
    from autograder.results import Results
    from autograder.results import TestResult as Case

    results = Results(
        tests=[Case(number="2.10", name="log", score=0, max_score=1, status="failed", category=checks.INVALID_LOG)]
    )
    assert submission_notes(results, Attempt(attempted=True, has_log=True)) == ["invalid submission_log.json"]
    assert (
        submission_notes(results, Attempt(attempted=False, has_log=False)) == []
    )  # missing, which the grader also calls invalid
    assert submission_notes(results, Attempt(attempted=True, syntax_errors=["attention.py"])) == [
        "syntax error in attention.py"
    ]


def test_due_gives_a_lateness_to_rows_without_one_and_a_resumed_run_refreshes_it(tmp_path, fake_grader):
    from autograder.lateness import parse_time
    from autograder.regrade import regrade

    export, out = small_export(tmp_path, {"early": 10, "late": 20, "stated": 30}), tmp_path / "out"
    (export / "submission_metadata.yml").write_text(
        "early:\n  :submitters: []\n  :created_at: 2026-10-28 22:01:00.000000000 -07:00\n"
        "late:\n  :submitters: []\n  :created_at: 2026-10-30 01:00:00.000000000 -07:00\n"
        "stated:\n  :submitters: []\n  :created_at: 2026-10-30 01:00:00 -07:00\n  :lateness: 'excused'\n"
    )
    assert regrade(export, out, due=parse_time("2026-10-29 23:59 -07:00")) == (3, 0)
    assert {name: row["lateness"] for name, row in rows(out).items()} == {
        "early": "on time",
        "late": "1 h 1 min",
        "stated": "excused",
    }
    assert regrade(export, out, due=parse_time("2026-10-30 00:59 -07:00")) == (
        0,
        3,
    )  # nothing graded again, lateness recomputed
    assert rows(out)["late"]["lateness"] == "1 min"
    assert "1 min" in (out / "report.html").read_text()


def test_a_due_date_without_its_offset_is_refused(tmp_path):
    done = run(small_export(tmp_path, {"a": 1}), "--out", tmp_path / "out", "--due", "2026-10-29 23:59")
    assert done.returncode == 2 and "UTC offset" in done.stderr and not (tmp_path / "out").exists()
