"""Bundles: the zip Gradescope's autograder settings take, and the students' starter bundle with the self-check."""
import stat
import tempfile
import zipfile
from pathlib import Path

from autograder import PROJECT_ROOT, REFERENCE
from autograder.reference_model import numpy_transformer_source
from autograder.secret import SECRET_FILE, new_secret

# What Gradescope needs: its two scripts at the root, the pins, the grader and the reference it computes from.
GRADESCOPE_FILES = ["setup.sh", "run_autograder", "requirements.txt"]
GRADESCOPE_FOLDERS = {"autograder": ("*.py",), "reference": ("*.py",)}
EXECUTABLE = {"setup.sh", "run_autograder"}
SECRET_MEMBER = f"autograder/{SECRET_FILE.name}"  # a fresh secret per zip, seeding hidden inputs; never for students

# What students get, under hw9/: the template, and the grader's modules that `check` needs.
STUDENT_ROOT = "hw9"
STUDENT_RUNTIME = (
    "__init__", "__main__", "cli", "grade", "sandbox", "worker", "supervisor", "protocol", "readback", "identity", "hiding",
    "case_runner", "portable", "portable_worker",
    "confinement", "config", "checks", "results",
    "log_file", "submission", "untrusted_fs", "reference_model", "grader_callables", "secret",
    "cases/__init__", "cases/frozen", "cases/problem2", "cases/problem2_log", "cases/weights_feedback",
    "check_summary", "notebook",  # the report `check` prints, and check() in a notebook cell
    "source_choice",  # problem 2 from the better of transformer.py and the log
)
STUDENT_REQUIREMENTS = ("requirements.txt", "requirements-notebook.txt")  # the grader's pins, then the notebook's
REQUIREMENTS_HEADER = """\
# The packages of the self-check and the notebook, each pinned.
# Install torch's CPU build FIRST, as README.md says for your system; then: python -m pip install -r requirements.txt
"""


def gradescope_members():
    """(path in the zip, file on disk) for every member of the Gradescope bundle, sorted."""
    members = [(name, PROJECT_ROOT / name) for name in GRADESCOPE_FILES]
    for folder, patterns in GRADESCOPE_FOLDERS.items():
        for pattern in patterns:
            for path in (PROJECT_ROOT / folder).rglob(pattern):
                if "__pycache__" not in path.parts:
                    members.append((str(path.relative_to(PROJECT_ROOT)), path))
    return sorted(members)


def student_members(public_folder):
    """(path in the zip, file or bytes) of the students' bundle; `public_folder` holds the frozen cases."""
    template = PROJECT_ROOT / "student_template"
    members = [(f"{STUDENT_ROOT}/{path.name}", path) for path in sorted(template.iterdir())
               if path.is_file()]  # notebook_helpers.py is a link: its content goes in
    members.append((f"{STUDENT_ROOT}/requirements.txt", student_requirements().encode()))
    members += [(f"{STUDENT_ROOT}/autograder/{module}.py", PROJECT_ROOT / "autograder" / f"{module}.py") for module in STUDENT_RUNTIME]
    public = {
        "notebook_helpers.py": (REFERENCE / "notebook_helpers.py").read_bytes(),
        "numpy_transformer.py": f'"""The NumpyTransformer the checks run: a copy of the template\'s."""\nimport math\n\nimport numpy as np\n\n\n{numpy_transformer_source()}\n'.encode(),
        **{path.name: path for path in sorted(Path(public_folder).iterdir())},
    }
    members += [(f"{STUDENT_ROOT}/autograder/public/{name}", content) for name, content in public.items()]
    return sorted(members, key=lambda member: member[0])


def student_requirements() -> str:
    """The bundle's requirements.txt: a header saying torch's CPU build goes first, then the pins of
    STUDENT_REQUIREMENTS without their own comment lines (written for this repository, not for students)."""
    pins = [line for name in STUDENT_REQUIREMENTS for line in (PROJECT_ROOT / name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    return REQUIREMENTS_HEADER + "\n".join(pins) + "\n"


def write_zip(out, members):
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


def build_gradescope(out):
    """The autograder zip for Gradescope: setup.sh and run_autograder at its root, the grader, the reference, a secret."""
    members = [*gradescope_members(), (SECRET_MEMBER, new_secret().encode())]
    return write_zip(out, sorted(members, key=lambda member: member[0]))


def build_student(out):
    """The students' zip: the template, and `check` with the public cases frozen to data (no reference, no hidden case)."""
    from autograder.cases import public_cases
    from autograder.cases.frozen import never_reads_the_submission, write_frozen

    frozen = [case for case in public_cases() if never_reads_the_submission(case)]
    with tempfile.TemporaryDirectory() as folder:
        write_frozen(frozen, Path(folder))
        return write_zip(out, student_members(folder))
