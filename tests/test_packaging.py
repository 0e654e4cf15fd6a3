"""pyproject.toml: the wheel holds the grader and nothing private, and the installed `autograder` command works."""

import importlib.util
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

# What a build or an install must never see: the virtual environment, git's data, earlier builds.
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", "build", "dist", "*.egg-info")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project, so that building leaves nothing in the checkout; with a deployment's secret key and
    the students' frozen public cases planted, as a built bundle would hold them."""
    copy = tmp_path_factory.mktemp("project") / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    (copy / "autograder" / "secret.key").write_text("not a real key\n")
    (copy / "autograder" / "public").mkdir(exist_ok=True)
    (copy / "autograder" / "public" / "cases.json").write_text("[]\n")
    yield copy
    shutil.rmtree(copy)  # pytest keeps its temporary folders: leave no readable copy of the reference behind


@pytest.fixture(scope="module")
def wheel(project, tmp_path_factory):
    """The wheel pip builds from the copy (with this environment's setuptools when it has one, else from PyPI)."""
    out = tmp_path_factory.mktemp("dist")
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        *isolation,
        "--wheel-dir",
        str(out),
        str(project),
    ]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("*.whl")
    return path


def venv_over_this_one(folder):
    """A new virtual environment that also sees this one's packages (numpy, torch, pip...), without copying them.

    `python -m venv --system-site-packages` run from a virtual environment would see the base interpreter's
    packages, not this environment's: a .pth file in the new environment adds this one's site-packages folders
    instead (every one on sys.path, so an environment layered the same way over another works too).
    """
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [path for path in sys.path if Path(path).name == "site-packages"]
    Path(purelib, "this_project_environment.pth").write_text("".join(f"{path}\n" for path in ours))
    return python


def pip_install(python, *arguments):
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def verbs(help_text):
    """The verbs `--help` lists, one a line under "positional arguments"."""
    return re.findall(r"^    (\w+) ", help_text, re.M)


def test_the_wheel_holds_the_grader_and_its_data_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/cli.py" in names and "homework/cases/problem1.py" in names
    assert "homework/manifest.yaml" in names and "homework/equivalent_mutants.json" in names  # the homework's data
    assert "autograder/public/cases.json" in names  # the students' frozen public cases, when built
    assert "autograder/secret.key" not in names  # a deployment's own key
    assert not [
        name for name in names if name.split("/")[0] in ("reference", "student_template", "tests", "bench", "docs")
    ]
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "autograder = autograder.console:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = (
        zipfile.ZipFile(wheel).read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    )
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ")] == [
        f"Requires-Dist: {pin}" for pin in pins if pin
    ]  # requirements.txt, in its order


def test_the_installed_wheel_has_the_command(wheel, tmp_path):
    python = venv_over_this_one(tmp_path / "venv")
    pip_install(python, str(wheel))
    # Installed on its own, the package has no reference beside it: the command is the students' bundle's, `check` only.
    shown = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "autograder"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert verbs(shown.stdout) == ["check"]


def test_the_editable_install_grades_as_python_m_does_from_any_folder(project, tmp_path):
    python = venv_over_this_one(tmp_path / "venv")
    pip_install(python, "--editable", str(project))
    command = tmp_path / "venv" / "bin" / "autograder"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = subprocess.run([str(command), "--help"], cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert verbs(shown.stdout) == ["check", "grade", "build", "regrade", "validate"]
    arguments = ["check", str(project / "reference"), "--problem", "1", "--color", "never"]
    installed = subprocess.run([str(command), *arguments], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    as_module = subprocess.run(
        [str(python), "-m", "autograder", *arguments], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    earned, worth = re.search(r"^\s*total\s+(\S+) / (\S+)$", installed.stdout, re.M).groups()
    assert float(worth) > 0 and earned == worth  # problem 1's public cases graded, every point earned by the reference
    assert installed.stdout == as_module.stdout
