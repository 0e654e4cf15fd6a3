"""The Gradescope zip's setup.sh, unpacked away from /autograder: a failed install leaves nothing half-built behind."""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT


@pytest.fixture
def source(tmp_path):
    """The zip of `build gradescope` unpacked (run bits kept) into a folder that is not /autograder/source."""
    bundle = tmp_path / "autograder.zip"
    subprocess.run(
        [sys.executable, "-m", "autograder", "build", "gradescope", str(bundle)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    folder = tmp_path / "somewhere" / "source"
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            os.chmod(archive.extract(info, folder), (info.external_attr >> 16) & 0o777)
    return folder


def set_up_without_torch(folder, tmp_path):
    """Run setup.sh with a torch index that is an empty folder and no pip configuration: torch cannot be found.

    It fails before the step that creates the worker user, so even as root nothing of this machine changes.
    """
    (tmp_path / "empty-index").mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_") and name != "VIRTUAL_ENV"}
    env |= {"TORCH_INDEX_URL": (tmp_path / "empty-index").as_uri(), "PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(["bash", str(folder / "setup.sh")], env=env, capture_output=True, text=True, timeout=300)


def test_a_failed_install_leaves_no_venv(source, tmp_path):
    done = set_up_without_torch(source, tmp_path)
    assert done.returncode != 0
    assert "could not install torch" in done.stderr
    assert not [path.name for path in source.iterdir() if path.name.startswith(".venv")]


def test_a_failed_reinstall_keeps_the_previous_venv_as_it_was(source, tmp_path):
    # requirements.txt changed since the last set-up (the stamp differs): the rebuild fails, the old venv stays whole.
    previous = source / ".venv"
    (previous / "bin").mkdir(parents=True)
    (previous / "bin" / "python").symlink_to(sys.executable)
    (previous / ".requirements.sha256").write_text("an older set of pins\n")
    done = set_up_without_torch(source, tmp_path)
    assert done.returncode != 0
    assert sorted(path.name for path in source.iterdir() if path.name.startswith(".venv")) == [".venv"]
    assert (previous / ".requirements.sha256").read_text() == "an older set of pins\n"
