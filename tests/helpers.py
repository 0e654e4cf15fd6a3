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
    done = subprocess.run([sys.executable, "-m", "autograder", "build", "student", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        archive.extractall(out.parent)
    return out.parent / "hw9"
