"""Bundles: the zip Gradescope's autograder settings take, and the students' starter bundle with the self-check."""

import posixpath
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from autograder import PROJECT_ROOT
from autograder.homework import HOMEWORK, MANIFEST_NAME, REFERENCE, TEMPLATE, homework_path, hook, manifest
from autograder.secret import SECRET_FILE, new_secret

# What Gradescope needs: its two scripts at the root, the pins, the engine, the homework and the reference it
# computes from.
GRADESCOPE_FILES = ["setup.sh", "run_autograder", "requirements.txt"]
HOMEWORK_PATTERNS = ("*.py", "*.yaml")  # the homework package: its code and its manifest
EXECUTABLE = {"setup.sh", "run_autograder"}
SECRET_MEMBER = f"autograder/{SECRET_FILE.name}"  # a fresh secret per zip, seeding hidden inputs; never for students

# What students get, under the manifest's bundle folder: the template, and the engine's modules that `check` needs.
STUDENT_RUNTIME = (
    "__init__",
    "__main__",
    "cli",
    "grade",
    "sandbox",
    "worker",
    "supervisor",
    "protocol",
    "readback",
    "identity",
    "hiding",
    "case_runner",
    "portable",
    "portable_worker",
    "confinement",
    "config",
    "checks",
    "results",
    "log_file",
    "submission",
    "untrusted_fs",
    "secret",
    "homework",
    "registry",
    "frozen",
    "check_summary",
    "notebook",  # the report `check` prints, and check() in a notebook cell
)
STUDENT_REQUIREMENTS = ("requirements.txt", "requirements-notebook.txt")  # the grader's pins, then the notebook's
REQUIREMENTS_HEADER = """\
# The packages of the self-check and the notebook, each pinned.
# Install torch's CPU build FIRST, as README.md says for your system; then: python -m pip install -r requirements.txt
"""


def reference_member() -> str:
    """Where the reference goes in a zip: the manifest's path from homework/, which must stay inside the zip."""
    where = posixpath.normpath(posixpath.join("homework", manifest().reference))
    if where.startswith(("..", "/")) or where in (".", "homework"):
        raise ValueError(f"the manifest's reference ({manifest().reference}) must be a folder beside homework/")
    return where


def folder_members(folder: Path, inside: str, patterns: Iterable[str]) -> list[tuple[str, Path]]:
    """(path in the zip under `inside`, file) for the files of `folder` matching `patterns`, caches left out."""
    return [
        (f"{inside}/{path.relative_to(folder).as_posix()}", path)
        for pattern in patterns
        for path in folder.rglob(pattern)
        if "__pycache__" not in path.parts
    ]


def gradescope_members() -> list[tuple[str, Path]]:
    """(path in the zip, file on disk) for every member of the Gradescope bundle, sorted: the engine as `autograder/`,
    the homework as `homework/` and its reference where the manifest says, whatever folders they come from."""
    members = [(name, PROJECT_ROOT / name) for name in GRADESCOPE_FILES]
    members += folder_members(PROJECT_ROOT / "autograder", "autograder", ("*.py",))
    members += folder_members(HOMEWORK, "homework", HOMEWORK_PATTERNS)
    members += folder_members(REFERENCE, reference_member(), ("*.py",))
    return sorted(members)


def student_members(public_folder: str | Path) -> list[tuple[str, Path | bytes]]:
    """(path in the zip, file or bytes) of the students' bundle; `public_folder` holds the frozen cases."""
    root = manifest().bundle.folder
    members = [
        (f"{root}/{path.name}", path) for path in sorted(TEMPLATE.iterdir()) if path.is_file()
    ]  # a link (HW9's notebook_helpers.py) gives its content
    members.append((f"{root}/requirements.txt", student_requirements().encode()))
    members += [
        (f"{root}/autograder/{module}.py", PROJECT_ROOT / "autograder" / f"{module}.py") for module in STUDENT_RUNTIME
    ]
    homework_files = [MANIFEST_NAME, *manifest().bundle.homework_files]
    members += [(f"{root}/homework/{name}", homework_path(name)) for name in homework_files]
    public_files = hook("bundle_public_files")  # the homework's public helpers the checks need, as bytes
    public = {
        **(public_files() if public_files else {}),
        **{path.name: path for path in sorted(Path(public_folder).iterdir())},
    }
    members += [(f"{root}/autograder/public/{name}", content) for name, content in public.items()]
    return sorted(members, key=lambda member: member[0])


def student_requirements() -> str:
    """The bundle's requirements.txt: a header saying torch's CPU build goes first, then the pins of
    STUDENT_REQUIREMENTS without their own comment lines (written for this repository, not for students)."""
    pins = [
        line
        for name in STUDENT_REQUIREMENTS
        for line in (PROJECT_ROOT / name).read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return REQUIREMENTS_HEADER + "\n".join(pins) + "\n"


def write_zip(out: str | Path, members: Iterable[tuple[str, Path | bytes]]) -> Path:
    """Write `members` (path in the zip, file or bytes) to the zip `out`, keeping the run bit of the scripts."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            mode = 0o755 if Path(name).name in EXECUTABLE else 0o600 if name == SECRET_MEMBER else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, content if isinstance(content, bytes) else content.read_bytes())
    return out


def build_gradescope(out: str | Path) -> Path:
    """The autograder zip for Gradescope: setup.sh and run_autograder at its root, the engine, the homework, its
    reference, a secret."""
    members = [*gradescope_members(), (SECRET_MEMBER, new_secret().encode())]
    return write_zip(out, sorted(members, key=lambda member: member[0]))


def build_student(out: str | Path) -> Path:
    """The students' zip: the template, and `check` with the public cases frozen to data (no reference, no hidden
    case)."""
    from autograder.frozen import never_reads_the_submission, write_frozen
    from autograder.registry import public_cases

    frozen = [case for case in public_cases() if never_reads_the_submission(case)]
    with tempfile.TemporaryDirectory() as folder:
        write_frozen(frozen, Path(folder))
        return write_zip(out, student_members(folder))
