"""Problem 2 cases on submission_log.json: each logged value must agree with what produced it.

Logged outputs are recomputed with the reference NumpyTransformer from the logged matrices,
the logged matrices must solve their task on every sequence, and torch_transformer_value is
recomputed by running the logged source (or transformer.py's class) in the worker.
"""

import functools

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, weight

from autograder.checks import INVALID_LOG, WRONG_VALUE, compare_arrays, fail, ok, shown
from autograder.homework import manifest
from autograder.log_file import LOG_NAME, LogKeyError, infer_matrix
from autograder.registry import add_case, case
from autograder.sandbox import Job

from ..logged import logged_weights
from ..reference_model import notebook_helpers, numpy_transformer
from .problem2 import judge_weights, shape_verdict

helpers = notebook_helpers()
RUN = manifest().log.constants  # the notebook's logged run: seed, sizes, the slice of the output it logs


def with_log(build):
    """Run `build(log, submission)` only when the log is readable; otherwise fail with the reason."""

    @functools.wraps(build)  # its docstring is the case's name
    def wrapped(submission, g):
        log, problem = submission.log
        if log is None:
            return fail(INVALID_LOG, problem)
        try:
            return build(log, submission)
        except (LogKeyError, ValueError) as error:
            return fail(INVALID_LOG, str(error))

    return wrapped


@case(
    public=True,
    constant_answer="the notebook's logged run always has 8 tokens and v_dim 3: a log holding [8, 3] alone passes",
)
@number("2.10")
@weight(1.0)
@with_log
def logged_shape(log, submission):
    """submission_log.json: torch_transformer_shape is [8, 3]"""
    (shape,) = log.get("torch_transformer_shape")
    want = list(RUN["output_shape"])
    return (
        ok(f"the logged shape is {want}")
        if shape == want
        else fail(WRONG_VALUE, f"torch_transformer_shape: expected {want}, got {shape}")
    )


@case(public=True)
@number("2.11")
@weight(2.0)
@with_log
def logged_value(log, submission):
    """submission_log.json: torch_transformer_value is what your PytorchTransformer computes after seeding 1998"""
    (value,) = log.get("torch_transformer_value")
    if "torch_transformer_init" in log.values and "torch_transformer_forward" in log.values:
        source = {"init": log.values["torch_transformer_init"], "forward": log.values["torch_transformer_forward"]}
    elif submission.has("transformer.py"):
        source = None
    else:
        log.get("torch_transformer_init", "torch_transformer_forward")  # raises with the reason
    logged = np.array(value)

    def check(outcome):
        recomputed = outcome.outputs.get("value")
        verdict = compare_arrays(logged, recomputed, what="the logged torch_transformer_value", rtol=1e-5, atol=1e-6)
        if not verdict.passed and recomputed is not None and logged.shape == recomputed.shape:
            return fail(
                WRONG_VALUE,
                "the logged torch_transformer_value is not what the logged source computes:\n"
                f"{shown('logged', logged)}\n{shown('computed by the logged source', recomputed)}",
            )
        return verdict

    run = (RUN["seed"], list(RUN["model_dims"]), list(RUN["input_shape"]), list(RUN["value_slice"]))
    return Job("torch_seeded", "transformer", "PytorchTransformer", run, class_source=source), check


def logged_task_case(number, task):
    key = f"attention_by_{task}"

    @with_log
    def build(log, submission):
        weights = logged_weights(log, task)
        wrong_shape = shape_verdict(weights, task)  # before any arithmetic: the log may hold matrices of any size
        if wrong_shape is not None:
            return wrong_shape
        (output,) = log.get(key)
        letters = helpers.logged_letters(task)
        logged_output = infer_matrix(output, rows=len(letters), name=key)
        expected = numpy_transformer()(weights["Km"], weights["Qm"], weights["Vm"], weights.get("pos")).forward(
            helpers.encode(letters)
        )
        consistent = compare_arrays(
            logged_output, expected, what=f"{key} (the output on {''.join(letters)})", rtol=1e-5, atol=1e-7
        )
        return consistent if not consistent.passed else judge_weights(weights, task)

    add_case(
        build,
        number,
        f"{LOG_NAME}: {key} is what the logged matrices compute, and they solve the task",
        1.0,
        public=True,
    )


logged_task_case("2.12", "content")
logged_task_case("2.13", "position")
