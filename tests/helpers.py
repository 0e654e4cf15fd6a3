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
