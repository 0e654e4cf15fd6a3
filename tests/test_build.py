"""`build gradescope`: the zip holds what Gradescope needs and nothing of ours besides, and grades when unpacked."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from autograder.registry import problem_points
from tests.helpers import ROOT

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "build", "gradescope", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def unpack(zip_path, destination):
    """Extract keeping the run bits, as Gradescope does."""
    with zipfile.ZipFile(zip_path) as bundle:
        for info in bundle.infolist():
            path = bundle.extract(info, destination)
            os.chmod(path, (info.external_attr >> 16) & 0o777)


def test_zip_holds_the_scripts_at_its_root_and_nothing_it_does_not_need(bundle):
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos and (infos[script].external_attr >> 16) & stat.S_IXUSR
    assert "requirements.txt" in infos and "reference/transformer.py" in infos and "autograder/worker.py" in infos
    homework = {
        f"homework/{path.relative_to(ROOT / 'homework').as_posix()}"
        for pattern in ("*.py", "*.yaml")
        for path in (ROOT / "homework").rglob(pattern)
        if "__pycache__" not in path.parts
    }
    assert "homework/manifest.yaml" in homework and homework <= set(
        infos
    )  # the whole homework package, hidden cases included
    assert not any(
        name.startswith(("tests/", "student_template/", ".git", "docs/", ".venv")) or "__pycache__" in name
        for name in infos
    )


def test_unpacked_bundle_grades_the_reference_to_full_marks(bundle, tmp_path):
    # Gradescope's tree: source/ (the unpacked zip), submission/, results/.
    unpack(bundle, tmp_path / "source")
    shutil.copytree(
        ROOT / "reference",
        tmp_path / "submission",
        ignore=shutil.ignore_patterns("__pycache__", "notebook_helpers.py", "__init__.py"),
    )
    env = {**os.environ, "AUTOGRADER_ROOT": str(tmp_path), "AUTOGRADER_PYTHON": sys.executable}
    done = subprocess.run(
        [str(tmp_path / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == FULL_MARKS and not any(
        t["status"] == "failed" and t["max_score"] > 0 for t in results["tests"]
    )


def test_zip_carries_a_fresh_private_secret_that_the_students_never_get(bundle, tmp_path):
    # Each build makes its own secret (it seeds the hidden inputs), readable by the grader alone.
    again = tmp_path / "again.zip"
    build = [sys.executable, "-m", "autograder", "build"]
    subprocess.run([*build, "gradescope", str(again)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    secrets = []
    for path in (bundle, again):
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("autograder/secret.key")
            assert (info.external_attr >> 16) & 0o777 == 0o600
            secrets.append(archive.read(info).strip())
    assert len(secrets[0]) >= 64 and secrets[0] != secrets[1]
    own = ROOT / "autograder" / "secret.key"
    assert not own.exists() or own.read_bytes().strip() not in secrets  # never the checkout's own
    student = tmp_path / "hw9.zip"
    subprocess.run([*build, "student", str(student)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    with zipfile.ZipFile(student) as archive:
        assert not any(name.endswith("secret.key") for name in archive.namelist())
        assert not any(secret in archive.read(name) for name in archive.namelist() for secret in secrets)
