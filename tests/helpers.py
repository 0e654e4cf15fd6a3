"""Shared test utilities: load a submission folder's module by path under a unique name."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_module(folder, name):
    """Import `folder/name.py` as a fresh module named `<folder>_<name>`, leaving sys.path untouched."""
    path = ROOT / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{Path(folder).name}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def unpacked_student_bundle(folder):
    """Build the students' zip in `folder` with `python -m autograder build student` and unpack it: its hw9/ folder."""
    import subprocess
    import zipfile

    out = Path(folder) / "hw9.zip"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "build", "student", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        archive.extractall(out.parent)
    return out.parent / "hw9"


def project_copies(except_for):
    """The private folders (reference/, homework/, autograder/, tests/) of every copy of the project on this machine but
    `except_for` (the copy under test): the worktrees git knows of (this checkout's, and its local origin's) and any
    other copy up to three folders below `/` (such as a checkout the machine was set up from, which no git command
    names). Without namespaces they are as readable as any file, and Gradescope's machine holds none: the tests that
    grade without namespaces hide them, so that what a student finds can only come from the copy under test."""
    import glob
    import subprocess

    def worktrees(repo):
        listed = subprocess.run(
            ["git", "-C", str(repo), "worktree", "list", "--porcelain"], capture_output=True, text=True
        ).stdout
        return [Path(line.split(" ", 1)[1]) for line in listed.splitlines() if line.startswith("worktree ")]

    origin = subprocess.run(
        ["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True
    ).stdout.strip()
    checkouts = worktrees(ROOT) + (worktrees(origin) if origin and Path(origin).is_dir() else [])
    for depth in range(3):
        pattern = "/" + "*/" * depth + "reference/attention.py"
        checkouts += [Path(found).parent.parent for found in glob.glob(pattern) if not found.startswith("/proc/")]
    checkouts = [folder for folder in checkouts if (folder / "autograder" / "grade.py").is_file()]
    kept = Path(except_for).resolve()
    return sorted(
        {
            str(folder / name)
            for folder in checkouts
            if folder.resolve() != kept
            for name in ("reference", "homework", "autograder", "tests")
            if (folder / name).is_dir()
        }
    )


def world_readable_copy(prefix: str) -> Path:
    """A copy of this checkout's files (tracked and untracked, not ignored), as a TA's checkout readable by every user
    would be: folders 0755, files 0644 (0755 where executable); under /srv where it can be written (a grader with
    namespaces gives its worker a private /tmp)."""
    import os
    import shutil
    import subprocess
    import tempfile

    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/srv" if os.access("/srv", os.W_OK) else None))
    os.chmod(root, 0o755)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, root / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        for folder in reversed(target.relative_to(root).parents[:-1]):
            (root / folder).mkdir(mode=0o755, exist_ok=True)
            os.chmod(root / folder, 0o755)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copyfile(source, target)
            os.chmod(target, 0o755 if os.access(source, os.X_OK) else 0o644)
    return root
