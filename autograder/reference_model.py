"""The reference's NumpyTransformer for the grading process, loaded without torch.

reference/transformer.py mirrors the student's file, so it defines PytorchTransformer next to
NumpyTransformer and imports torch (about 1.5 s and 220 MB). The grading process only needs
the numpy class, so it compiles that one class from the same file: one source, no torch.
"""
import ast
import math
from functools import cache

import numpy as np

from autograder import REFERENCE

REFERENCE_TRANSFORMER = REFERENCE / "transformer.py"


@cache
def numpy_transformer():
    """The NumpyTransformer class of reference/transformer.py, compiled on its own."""
    tree = ast.parse(REFERENCE_TRANSFORMER.read_text(), filename=str(REFERENCE_TRANSFORMER))
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "NumpyTransformer"]
    namespace = {"np": np, "math": math, "__name__": "reference.transformer"}
    exec(compile(ast.Module([node], type_ignores=[]), str(REFERENCE_TRANSFORMER), "exec"), namespace)  # our own file
    return namespace["NumpyTransformer"]
