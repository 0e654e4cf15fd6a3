"""`regrade`: a Gradescope export (folder or zip) graded in parallel, one results.json each, a CSV, resumable."""
import csv
import shutil
import subprocess
import sys
import zipfile

import pytest

from autograder.export import read_metadata
from tests.corpus import make_submission
from tests.helpers import ROOT

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
    return subprocess.run([sys.executable, "-m", "autograder", "regrade", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)


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
    assert graded["submission_101"]["total"] == "60.0" and graded["submission_101"]["students"] == "Ada Lovelace"
    assert graded["submission_102"]["total"] == "0.0" and graded["submission_102"]["emails"] == "alan@example.edu; grace@example.edu"
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
