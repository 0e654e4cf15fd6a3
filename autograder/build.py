"""Bundles for course staff: the zip Gradescope's autograder settings take."""
import stat
import zipfile
from pathlib import Path

from autograder import PROJECT_ROOT

# What Gradescope needs: its two scripts at the root, the pins, the grader and the reference it computes from.
GRADESCOPE_FILES = ["setup.sh", "run_autograder", "requirements.txt"]
GRADESCOPE_FOLDERS = {"autograder": ("*.py",), "reference": ("*.py",)}
EXECUTABLE = {"setup.sh", "run_autograder"}


def gradescope_members():
    """(path in the zip, file on disk) for every member of the Gradescope bundle, sorted."""
    members = [(name, PROJECT_ROOT / name) for name in GRADESCOPE_FILES]
    for folder, patterns in GRADESCOPE_FOLDERS.items():
        for pattern in patterns:
            for path in (PROJECT_ROOT / folder).rglob(pattern):
                if "__pycache__" not in path.parts:
                    members.append((str(path.relative_to(PROJECT_ROOT)), path))
    return sorted(members)


def write_zip(out, members):
    """Write `members` to the zip `out`, keeping the run bit of the scripts."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, path in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            mode = 0o755 if Path(name).name in EXECUTABLE else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    return out


def build_gradescope(out):
    """The autograder zip for Gradescope: setup.sh and run_autograder at its root, the grader, the reference."""
    return write_zip(out, gradescope_members())
