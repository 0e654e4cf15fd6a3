"""The public parts of the reference for the grading process: NumpyTransformer (loaded without torch) and
notebook_helpers.

reference/transformer.py mirrors the student's file, so it defines PytorchTransformer next to
NumpyTransformer and imports torch (about 1.5 s and 220 MB). The grading process only needs
the numpy class, so it compiles that one class from the same file: one source, no torch.
Both parts are public (the student template ships them), so the students' bundle carries
copies of them in autograder/public/ instead of reference/.
"""

import ast
import importlib
import importlib.util
import math
from functools import cache

import numpy as np

from autograder import PUBLIC
from autograder.homework import REFERENCE, STUDENT_BUNDLE, reference_module

REFERENCE_TRANSFORMER = PUBLIC / "numpy_transformer.py" if STUDENT_BUNDLE else REFERENCE / "transformer.py"
HELPERS_FILE = (PUBLIC if STUDENT_BUNDLE else REFERENCE) / "notebook_helpers.py"


def numpy_transformer_source(path=REFERENCE_TRANSFORMER):
    """The source text of the NumpyTransformer class of a transformer file."""
    text = path.read_text()
    (node,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "NumpyTransformer"]
    return ast.get_source_segment(text, node)


@cache
def numpy_transformer():
    """The reference's NumpyTransformer class, compiled on its own."""
    namespace = {"np": np, "math": math, "__name__": "reference.transformer"}
    exec(compile(numpy_transformer_source(), str(REFERENCE_TRANSFORMER), "exec"), namespace)  # our own file
    return namespace["NumpyTransformer"]


@cache
def notebook_helpers():
    """reference/notebook_helpers.py as a module (in the bundle, its copy in autograder/public/)."""
    if not STUDENT_BUNDLE:
        return reference_module("notebook_helpers")
    spec = importlib.util.spec_from_file_location("hw9_notebook_helpers", HELPERS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_files() -> dict[str, bytes]:
    """The students' bundle's copies (autograder/public/) of the public parts the checks use: the hook
    bundle_public_files."""
    numpy_class = (
        '"""The NumpyTransformer the checks run: a copy of the template\'s."""\n'
        "import math\n\nimport numpy as np\n\n\n"
        f"{numpy_transformer_source()}\n"
    )
    return {"notebook_helpers.py": HELPERS_FILE.read_bytes(), "numpy_transformer.py": numpy_class.encode()}
