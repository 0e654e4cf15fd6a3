"""What validate's stub submissions return for Homework 9's jobs that are no plain function call.

The engine (autograder/validate.py) models a stub as a function that returns None, 0, zeros of the expected shape or
its first input; here, a weights function of problem 2 (no arguments, a dict of matrices) and the torch recipes
(the model's input is the last argument; an attribute check has no input to echo).
"""

import numpy as np

from autograder.validate import STUBS

WEIGHT_STUB_SHAPES = {  # a weights function's stub returns these matrices (zeros, or ones on the diagonal)
    "content": {"Km": (3, 3), "Qm": (3, 3), "Vm": (3, 3)},
    "position": {"Km": (7, 7), "Qm": (7, 7), "Vm": (7, 3), "pos": (4, 4)},
}


def stub_outputs(stub: str, job, expected_shape: tuple | None) -> tuple[dict, dict] | None:
    """(outputs, kinds) of `stub` for a weights function or a torch recipe; None for a plain call (the engine's)."""
    if job.recipe == "call" and not job.args and stub in STUBS[2:]:  # a weights function: a dict of matrices
        shapes = WEIGHT_STUB_SHAPES["position" if "position" in job.function else "content"]
        return {
            f"dict:{name}": np.zeros(shape) if stub == STUBS[2] else np.eye(*shape) for name, shape in shapes.items()
        }, {"value": "dict"}
    if job.recipe in ("torch_forward", "torch_attributes") and stub == STUBS[3]:
        value = np.asarray(job.args[-1], dtype=np.float64) if job.recipe == "torch_forward" and job.args else None
        return {"value": value}, {"value": "None" if value is None else "numpy.ndarray (float64)"}
    return None
