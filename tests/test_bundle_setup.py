"""The students' set-up as the bundle's README gives it: its Linux commands run literally in a fresh copy of the
bundle (a new venv, torch's CPU build, the pinned packages), then `check` and the notebook's check() in that venv.

The install test takes a few minutes (pip installs torch and JupyterLab); the README and pin tests are instant.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.build import student_requirements
from autograder.registry import problem_titles
from tests.helpers import ROOT, unpacked_student_bundle

README = ROOT / "student_template" / "README.md"
LINUX_BLOCK = re.compile(r"<!-- setup-commands: linux[^>]*-->\s*```bash\n(.*?)```", re.S)
CHECK_LINE = "python -m autograder check"
MARK = "=== the last command of the README block ==="


def pins(text):
    """name -> version of every `name==version` line of a requirements text; names normalised as PEP 503 does
    (pip list writes typing_extensions where requirements say typing-extensions)."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def linux_commands(readme_text):
    block = LINUX_BLOCK.search(readme_text)
    assert block, "the README has no block marked <!-- setup-commands: linux -->"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_torch_pin_is_the_requirements_pin():
    wanted = pins((ROOT / "requirements.txt").read_text())["torch"]
    named = re.findall(r"torch==([0-9]+(?:\.[0-9]+)*)", README.read_text())
    assert len(named) >= 4 and set(named) == {wanted}  # Linux, macOS, PowerShell, cmd: one version, the pinned one


def test_readme_gives_commands_for_every_system():
    text = README.read_text()
    for heading in (
        "### Linux",
        "### macOS",
        "### Windows (PowerShell)",
        "### Windows (Command Prompt, cmd)",
        "### The notebook",
    ):
        assert heading in text
    assert "3.10" in text and "3.13" in text
    commands = linux_commands(text)
    assert commands[0].startswith("python3 -m venv") and commands[-1] == CHECK_LINE
    torch_first = next(i for i, line in enumerate(commands) if "torch==" in line)
    assert "download.pytorch.org/whl/cpu" in commands[torch_first]
    assert torch_first < next(i for i, line in enumerate(commands) if "-r requirements.txt" in line)


def test_bundle_requirements_hold_every_runtime_and_notebook_pin():
    bundle = student_requirements()
    assert bundle.startswith("#") and "torch's CPU build" in bundle.splitlines()[1]
    expected = {
        **pins((ROOT / "requirements.txt").read_text()),
        **pins((ROOT / "requirements-notebook.txt").read_text()),
    }
    assert pins(bundle) == expected and {"jupyterlab", "ipykernel", "matplotlib", "torch"} <= set(expected)


def test_dev_requirements_use_the_notebook_pins():
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements-notebook.txt" in dev
    assert not set(pins(dev)) & set(pins((ROOT / "requirements-notebook.txt").read_text()))  # no second pin


def clean_environment():
    """This process's environment without the virtual environment pytest runs in (so `python3` is the system's)."""
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    ours = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if part != ours)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A built and unpacked bundle after the README's Linux commands: (hw9 folder, the commands' output, exit
    status)."""
    hw9 = unpacked_student_bundle(tmp_path_factory.mktemp("setup"))
    commands = linux_commands((hw9 / "README.md").read_text())
    script = "\n".join(["set -e", *commands[:-1], "set +e", f"echo '{MARK}'", commands[-1]])
    run = subprocess.run(
        ["bash", "-c", script], cwd=hw9, env=clean_environment(), capture_output=True, text=True, timeout=1800
    )
    return hw9, run.stdout + run.stderr, run.returncode


def test_readme_linux_commands_install_and_check_the_template(installed):
    hw9, output, status = installed
    assert MARK in output, output[-3000:]  # every set-up command succeeded
    check = output.split(MARK, 1)[1]
    assert status == 1, check[-3000:]  # the stubs fail
    for number, title in problem_titles().items():
        block = check.split(f"Problem {number}: {title}", 1)[1].split("\nProblem ", 1)[0]
        assert "FAIL" in block and "PASS" not in block, number
        assert "NotImplementedError" in block, number
    assert "Traceback" not in check


def test_the_venv_holds_the_pins_and_torch_without_cuda(installed):
    hw9, _, _ = installed
    listing = subprocess.run(
        [str(hw9 / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    versions = pins(listing.stdout)
    for name, version in pins((hw9 / "requirements.txt").read_text()).items():
        assert versions.get(name, "").split("+")[0] == version, name
    assert not [name for name in versions if name.startswith("nvidia")]  # torch's CPU build came first
    lab = subprocess.run(
        [str(hw9 / ".venv/bin/python"), "-m", "jupyter", "lab", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lab.stdout.strip() == pins((ROOT / "requirements-notebook.txt").read_text())["jupyterlab"]


def test_notebook_check_runs_in_the_venv(installed):
    hw9, _, _ = installed
    code = "from autograder.notebook import check; print(check(1))"
    done = subprocess.run(
        [str(hw9 / ".venv/bin/python"), "-c", code], cwd=hw9, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert f"Problem 1: {problem_titles()['1']}" in done.stdout and "NotImplementedError" in done.stdout
    assert "Problem 2:" not in done.stdout and "could not run" not in done.stdout


def test_the_venv_in_the_folder_is_not_copied_as_part_of_the_submission(installed, tmp_path):
    hw9, _, _ = installed
    results = tmp_path / "results.json"
    subprocess.run(
        [str(hw9 / ".venv/bin/python"), "-m", "autograder", "check", "--problem", "3", "--results", str(results)],
        cwd=hw9,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ".venv" not in results.read_text()  # no note of links skipped or files over the caps in it


NOTEBOOK_CELLS = """\
import re, sys
import nbclient, nbformat
nb = nbformat.read("hand_design_transformers.ipynb", as_version=4)
code = [cell for cell in nb.cells if cell.cell_type == "code"]
nb.cells = [code[0]] + [cell for cell in code if cell.source.strip() == "check(2)"]
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
print(nb.cells[-1].outputs[0]["data"]["text/html"])
"""


def test_the_notebook_check_cell_runs_in_the_venvs_own_kernel(installed):
    # JupyterLab's dependencies bring nbclient: the notebook's imports and its check(2) cell, in the pinned kernel.
    hw9, _, _ = installed
    done = subprocess.run(
        [str(hw9 / ".venv/bin/python"), "-c", NOTEBOOK_CELLS],
        cwd=hw9,
        env={**clean_environment(), "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.findall(r'<tr class="hw9-problem"><td>(\d)</td>', done.stdout) == ["2"]
    assert "NotImplementedError" in done.stdout and "could not run" not in done.stdout
