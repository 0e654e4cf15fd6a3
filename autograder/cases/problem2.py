"""Problem 2's public cases: PytorchTransformer against the reference NumpyTransformer, and the hand-designed weights.

The class comes from transformer.py or, when that file is absent, is rebuilt from the log's
source text (in the worker). The weights come from transformer.py's functions or the log.
Everything here is public (it ships in the students' bundle); the hidden forward cases are
in problem2_hidden.py.
"""
import math

import numpy as np

from autograder.cases import call, case
from autograder.cases.weights_feedback import explain_failure
from autograder.checks import INVALID_LOG, MISSING, WRONG_SHAPE, WRONG_VALUE, Expect, fail, ok
from autograder.log_file import LogKeyError, logged_weights
from autograder.reference_model import notebook_helpers, numpy_transformer
from autograder.sandbox import Job
from autograder.submission import NoTransformerClass

helpers = notebook_helpers()

FORWARD_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32 arithmetic in the student's model
WEIGHT_SHAPES = {
    # task: the shape each matrix must have; None stands for a free dimension (qk_dim, p)
    "content": {"Km": (3, None), "Qm": (3, None), "Vm": (3, 3)},
    "position": {"Km": (None, None), "Qm": (None, None), "Vm": (None, 3), "pos": (4, None)},
}


def class_source(submission):
    """The job option selecting the student's class, or a Verdict when there is none."""
    try:
        return {"transformer_source": submission.transformer_source()}
    except NoTransformerClass as error:
        return fail(MISSING, str(error))


# Catalogued wrong forward passes (see autograder/mistakes.py): name -> (words, the factor on Qm that reproduces it
# in the public NumpyTransformer, given sqrt(qk_dim)). They ship to students, so they use nothing but that class.
FORWARD_MISTAKES = {
    "no_scaling": ("the forward pass without the 1/sqrt(qk_dim) scaling", lambda root: root),
    "scaled_by_d": ("the forward pass with the scores divided by qk_dim instead of sqrt(qk_dim)", lambda root: 1 / root),
}


def forward_mistakes(Km, Qm, Vm, pos, seq):
    """words -> the output of each catalogued wrong forward pass on this case."""
    root, model = math.sqrt(Qm.shape[1]), numpy_transformer()
    return {words: model(Km, Qm * factor(root), Vm, pos).forward(seq) for words, factor in FORWARD_MISTAKES.values()}


def forward_case(number, covers, dims, length, public):
    @case(number, f"PytorchTransformer equals NumpyTransformer: {covers}", 1.0, public=public, twin=public)
    def build(submission, g):
        source = class_source(submission)
        if not isinstance(source, dict):
            return source
        input_dim, qk_dim, v_dim, pos_dim, max_seq_len = dims
        in_dim = input_dim + (pos_dim or 0)
        Km, Qm, Vm = g.standard_normal((in_dim, qk_dim)), g.standard_normal((in_dim, qk_dim)), g.standard_normal((in_dim, v_dim))
        pos = None if pos_dim is None else g.standard_normal((max_seq_len, pos_dim))
        seq = g.standard_normal((length, input_dim))
        expected = numpy_transformer()(Km, Qm, Vm, pos).forward(seq)
        job = Job("torch_forward", "transformer", "PytorchTransformer", (list(dims), Km, Qm, Vm, pos, seq), **source)
        return job, Expect(expected, **FORWARD_TOLERANCE, mistakes=forward_mistakes(Km, Qm, Vm, pos, seq) if public else {})


# number, what it covers, (input_dim, qk_dim, v_dim, pos_dim, max_seq_len), sequence length, public
forward_case("2.1", "the logged run's sizes, with positions", (7, 4, 3, 2, 9), 8, True)


@case("2.7", "PytorchTransformer has the layers the spec names (Km, Qm, Vm, pos)", 1.0, public=True)
def attributes(submission, g):
    source = class_source(submission)
    if not isinstance(source, dict):
        return source
    with_pos, without_pos = (5, 3, 2, 4, 6), (5, 3, 2)
    expected = {  # [right type, has a bias, *weight shape]; [-1] means the attribute must be None
        "0:Km": [1, 0, 3, 9], "0:Qm": [1, 0, 3, 9], "0:Vm": [1, 0, 2, 9], "0:pos": [1, 0, 6, 4],
        "1:Km": [1, 0, 3, 5], "1:Qm": [1, 0, 3, 5], "1:Vm": [1, 0, 2, 5], "1:pos": [-1],
    }
    described = {
        "Km": "nn.Linear(in_dim, qk_dim, bias=False)", "Qm": "nn.Linear(in_dim, qk_dim, bias=False)",
        "Vm": "nn.Linear(in_dim, v_dim, bias=False)", "pos": "nn.Embedding(max_seq_len, pos_dim)",
    }

    def check(outcome):
        for key, facts in expected.items():
            got = outcome.outputs.get(key)
            index, name = key.split(":")
            call_text = f"PytorchTransformer{(with_pos, without_pos)[int(index)]}"
            if got is None or got.tolist() != facts:
                want = "None" if facts == [-1] else f"{described[name]} with weight shape {tuple(facts[2:])}"
                return fail(WRONG_VALUE, f"in {call_text}, {name} should be {want}")
        return ok("Km, Qm, Vm and pos are the layers the spec names")
    return Job("torch_attributes", "transformer", "PytorchTransformer", ([list(with_pos), list(without_pos)],), **source), check


def returned_dict(outcome):
    """The matrices of a returned dict (the worker names them "dict:<key>"), empty when no dict came back."""
    return {key.split(":", 1)[1]: value for key, value in outcome.outputs.items() if key.startswith("dict:")}


# Catalogued mistakes of hand-designed weights, recognised from the returned matrices' shapes alone.
POSITIONS_ADDED = ("weights made for positions added to the tokens; the model concatenates them, so Km, Qm and Vm "
                   "need 3 + p rows for a 4 x p pos")


def positions_added(weights):
    """pos as wide as a token, and the other matrices as tall as one: the student added positions, as many models do."""
    return weights["pos"].shape[1] == 3 and all(weights[name].shape[0] == 3 for name in ("Km", "Qm", "Vm"))


_JUDGED = {}  # the same weights come back from transformer.py and from the log: judged once


def judge_weights(weights, task):
    """Hand-designed weights must have the spec's shapes and solve every sequence of the task."""
    key = (task, tuple(sorted((name, m.shape, m.tobytes()) for name, m in weights.items() if isinstance(m, np.ndarray))))
    if key not in _JUDGED:
        if len(_JUDGED) > 64:
            _JUDGED.clear()
        _JUDGED[key] = judged_weights(weights, task)
    return _JUDGED[key]


def judged_weights(weights, task):
    """judge_weights without the memory: shapes first, then every sequence, then what went wrong on the first failure."""
    shapes = WEIGHT_SHAPES[task]
    for name, shape in shapes.items():
        matrix = weights.get(name)
        if matrix is None or matrix.ndim != 2 or any(want is not None and want != got for want, got in zip(shape, matrix.shape)):
            got = "nothing" if matrix is None else f"shape {matrix.shape}"
            want = " x ".join("any" if d is None else str(d) for d in shape)
            return fail(WRONG_SHAPE, f"{name} should be a {want} matrix, got {got}")
    try:
        with np.errstate(all="ignore"):  # NaN or huge weights are the student's; they fail below, quietly
            failures = helpers.failing_sequences(weights, task, numpy_transformer())
    except ValueError as error:  # matrices that do not fit together
        verdict = fail(WRONG_SHAPE, f"the matrices do not fit together: {error}")
        if task == "position" and positions_added(weights):
            verdict.diagnosis = POSITIONS_ADDED
        return verdict
    total = sum(1 for _ in helpers.all_letter_sequences(helpers.TASKS[task][0]))
    if failures:
        letters, expected, produced = failures[0]
        summary = f"{len(failures)} of {total} sequences wrong (the notebook's check: np.allclose(out, expected, rtol={helpers.NOTEBOOK_RTOL:g}))."
        if np.shape(produced) != expected.shape:
            return fail(WRONG_SHAPE, f"{summary} The output of [{', '.join(letters)}] has shape {np.shape(produced)}, expected {expected.shape}: check Vm's columns.")
        model = helpers.build_numpy_transformer(weights, numpy_transformer())
        with np.errstate(all="ignore"):
            details = explain_failure(model, letters, helpers.encode(letters), expected, produced, task, helpers.NOTEBOOK_RTOL)
        return fail(WRONG_VALUE, f"{summary}\n\n{details}")
    return ok(f"all {total} sequences solved")


def weights_case(number, task, function):
    @case(number, f"{function}() solves every sequence of the task", 4.0, public=True)
    def build(submission, g):
        if submission.has("transformer.py"):
            def check(outcome):
                weights = returned_dict(outcome)
                if not weights:
                    return fail(WRONG_SHAPE, f"{function}() should return a dict of matrices, got {outcome.kinds.get('value', 'something else')}")
                return judge_weights(weights, task)
            return call("transformer", function), check
        log, problem = submission.log
        if log is None:
            return fail(MISSING, f"transformer.py is missing, and {problem}")
        try:
            return judge_weights(logged_weights(log, task), task)
        except (LogKeyError, ValueError) as error:
            return fail(INVALID_LOG, f"transformer.py is missing, and the log's matrices cannot be used: {error}")


weights_case("2.8", "content", "attention_by_content")
weights_case("2.9", "position", "attention_by_position")


@case("2.14", "optional: attention_unique() marks unique and repeated tokens (no points)", 0.0, file="transformer.py", public=True)
def unique(submission, g):
    def check(outcome):
        weights = returned_dict(outcome)
        if not {"Km", "Qm", "Vm"} <= set(weights):
            return fail(WRONG_SHAPE, "attention_unique() should return a dict with Km, Qm, Vm and pos")
        try:
            failures = helpers.unique_failures(weights, numpy_transformer())
        except ValueError as error:
            return fail(WRONG_SHAPE, f"the matrices do not fit together: {error}")
        if failures:
            letters, expected, signs = failures[0]
            return fail(WRONG_VALUE, f"{len(failures)} sequences wrong, e.g. CLS, {', '.join(letters)}: expected signs {expected.tolist()}, got {signs.tolist()}")
        return ok("every sequence marked correctly")
    return call("transformer", "attention_unique"), check
