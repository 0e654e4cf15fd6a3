"""Problem 2's public cases: PytorchTransformer against the reference NumpyTransformer, and the hand-designed weights.

The class comes from transformer.py or, when that file is absent, is rebuilt from the log's
source text (in the worker). The weights come from transformer.py's functions or the log. When
transformer.py is there but earns less on a part than the log would, the grader grades that
part from the log instead (autograder/source_choice.py).
Everything here is public (it ships in the students' bundle); the hidden forward cases are
in problem2_hidden.py.
"""

import itertools
import math
from functools import cache

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, weight

from autograder.checks import INVALID_LOG, MISSING, WRONG_SHAPE, WRONG_VALUE, Expect, fail, ok, shown
from autograder.log_file import LogKeyError
from autograder.registry import add_case, call, case
from autograder.sandbox import Job

from ..logged import NoTransformerClass, logged_weights, transformer_source
from ..reference_model import notebook_helpers, numpy_transformer
from .weights_feedback import explain_failure

helpers = notebook_helpers()

FORWARD_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32 arithmetic in the student's model
DIM_CAP = 64  # the largest qk_dim, p or v_dim accepted: the tasks need 3 or 4, and the grader's work stays small
WEIGHT_SHAPES = {
    # task: (matrix, rows, columns) in the order they are checked; a name is a free dimension, bound where it first
    # appears and held to its range (FREE_DIMS); "3+p" is 3 plus the p bound before
    "content": [("Km", "3", "qk"), ("Qm", "3", "qk"), ("Vm", "3", "3")],
    "position": [("pos", "4", "p"), ("Km", "3+p", "qk"), ("Qm", "3+p", "qk"), ("Vm", "3+p", "3")],
    "unique": [("pos", "n", "p"), ("Km", "4+p", "qk"), ("Qm", "4+p", "qk"), ("Vm", "4+p", "v")],
}
FREE_DIMS = {"qk": (1, DIM_CAP), "p": (1, DIM_CAP), "v": (1, DIM_CAP), "n": (7, DIM_CAP)}  # n: CLS and up to 6 tokens


# What transformer.py provides -> the cases judging it. When transformer.py earns less on a part than
# submission_log.json does, that part is graded from the log instead (autograder/source_choice.py).
CLASS_PART = "PytorchTransformer"
SOURCE_PARTS: dict[str, list[str]] = {}


def from_either_source(part, number):
    """Record that case `number` judges `part`, which transformer.py or the log may provide."""
    SOURCE_PARTS.setdefault(part, []).append(number)


def class_source(submission):
    """The job option selecting the student's class, or a Verdict when there is none."""
    try:
        return {"class_source": transformer_source(submission)}
    except NoTransformerClass as error:
        return fail(MISSING, str(error))


# Catalogued wrong forward passes (see homework/mistakes.py): name -> (words, the factor on Qm that reproduces it
# in the public NumpyTransformer, given sqrt(qk_dim)). They ship to students, so they use nothing but that class.
FORWARD_MISTAKES = {
    "no_scaling": ("the forward pass without the 1/sqrt(qk_dim) scaling", lambda root: root),
    "scaled_by_d": (
        "the forward pass with the scores divided by qk_dim instead of sqrt(qk_dim)",
        lambda root: 1 / root,
    ),
}


def forward_mistakes(Km, Qm, Vm, pos, seq):
    """words -> the output of each catalogued wrong forward pass on this case."""
    root, model = math.sqrt(Qm.shape[1]), numpy_transformer()
    return {words: model(Km, Qm * factor(root), Vm, pos).forward(seq) for words, factor in FORWARD_MISTAKES.values()}


def forward_case(number, covers, dims, length, public):
    from_either_source(CLASS_PART, number)

    def build(submission, g):
        source = class_source(submission)
        if not isinstance(source, dict):
            return source
        input_dim, qk_dim, v_dim, pos_dim, max_seq_len = dims
        in_dim = input_dim + (pos_dim or 0)
        Km, Qm, Vm = (
            g.standard_normal((in_dim, qk_dim)),
            g.standard_normal((in_dim, qk_dim)),
            g.standard_normal((in_dim, v_dim)),
        )
        pos = None if pos_dim is None else g.standard_normal((max_seq_len, pos_dim))
        seq = g.standard_normal((length, input_dim))
        expected = numpy_transformer()(Km, Qm, Vm, pos).forward(seq)
        job = Job("torch_forward", "transformer", "PytorchTransformer", (list(dims), Km, Qm, Vm, pos, seq), **source)
        return job, Expect(
            expected, **FORWARD_TOLERANCE, mistakes=forward_mistakes(Km, Qm, Vm, pos, seq) if public else {}
        )

    add_case(build, number, f"PytorchTransformer equals NumpyTransformer: {covers}", 1.0, public=public, twin=public)


# number, what it covers, (input_dim, qk_dim, v_dim, pos_dim, max_seq_len), sequence length, public
forward_case("2.1", "the logged run's sizes, with positions", (7, 4, 3, 2, 9), 8, True)


from_either_source(CLASS_PART, "2.7")


@case(public=True)
@number("2.7")
@weight(1.0)
def attributes(submission, g):
    """PytorchTransformer has the layers the spec names (Km, Qm, Vm, pos)"""
    source = class_source(submission)
    if not isinstance(source, dict):
        return source
    with_pos, without_pos = (5, 3, 2, 4, 6), (5, 3, 2)
    expected = {  # [right type, has a bias, *weight shape]; [-1] means the attribute must be None
        "0:Km": [1, 0, 3, 9],
        "0:Qm": [1, 0, 3, 9],
        "0:Vm": [1, 0, 2, 9],
        "0:pos": [1, 0, 6, 4],
        "1:Km": [1, 0, 3, 5],
        "1:Qm": [1, 0, 3, 5],
        "1:Vm": [1, 0, 2, 5],
        "1:pos": [-1],
    }
    described = {
        "Km": "nn.Linear(in_dim, qk_dim, bias=False)",
        "Qm": "nn.Linear(in_dim, qk_dim, bias=False)",
        "Vm": "nn.Linear(in_dim, v_dim, bias=False)",
        "pos": "nn.Embedding(max_seq_len, pos_dim)",
    }

    def check(outcome):
        for key, facts in expected.items():
            got = outcome.outputs.get(key)
            index, name = key.split(":")
            call_text = f"PytorchTransformer{(with_pos, without_pos)[int(index)]}"
            if got is None or got.shape != (len(facts),) or got.tolist() != facts:  # shape first: no huge list
                want = "None" if facts == [-1] else f"{described[name]} with weight shape {tuple(facts[2:])}"
                return fail(WRONG_VALUE, f"in {call_text}, {name} should be {want}")
        return ok("Km, Qm, Vm and pos are the layers the spec names")

    return Job(
        "torch_attributes", "transformer", "PytorchTransformer", ([list(with_pos), list(without_pos)],), **source
    ), check


def returned_dict(outcome):
    """The matrices of a returned dict (the worker names them "dict:<key>"), empty when no dict came back."""
    return {key.split(":", 1)[1]: value for key, value in outcome.outputs.items() if key.startswith("dict:")}


# Catalogued mistakes of hand-designed weights, recognised from the returned matrices' shapes alone.
POSITIONS_ADDED = (
    "weights made for positions added to the tokens; the model concatenates them, so Km, Qm and Vm "
    "need 3 + p rows for a 4 x p pos"
)


def positions_added(weights):
    """pos as wide as a token, and the other matrices as tall as one: the student added positions, as many models do."""
    return weights["pos"].shape[1] == 3 and all(weights[name].shape[0] == 3 for name in ("Km", "Qm", "Vm"))


_JUDGED = {}  # the same weights come back from transformer.py and from the log: judged once


def judge_weights(weights, task):
    """Hand-designed weights must have the spec's shapes and solve every sequence of the task."""
    wrong_shape = shape_verdict(weights, task)
    if wrong_shape is not None:
        return wrong_shape
    weights = {name: weights.get(name) for name in ("Km", "Qm", "Vm", "pos")}  # the spec's matrices, no other key
    key = (
        task,
        tuple(sorted((name, m.shape, m.tobytes()) for name, m in weights.items() if isinstance(m, np.ndarray))),
    )
    if key not in _JUDGED:
        if len(_JUDGED) > 64:
            _JUDGED.clear()
        _JUDGED[key] = judged_weights(weights, task)
    return _JUDGED[key]


def shape_problem(weights, task):
    """Why the matrices do not have the spec's shapes, or None: checked before any arithmetic on them.

    Examples:
        shape_problem({"Km": np.zeros((5000, 5000)), ...}, "content")
        -> "Km has shape (5000, 5000); expected (3, qk) with qk <= 64"
    """
    if task == "content" and weights.get("pos") is not None:
        return "pos is given, but the content task's model has no positions (Km has 3 rows): return Km, Qm and Vm only"
    bound = {"p": 0} if task == "unique" and weights.get("pos") is None else {}  # unique: pos may be left out
    for name, *dims in WEIGHT_SHAPES[task]:
        matrix = weights.get(name)
        if matrix is None and name == "pos" and "p" in bound:
            continue
        if matrix is None or matrix.ndim != 2:
            got = "is missing" if matrix is None else f"has shape {matrix.shape}"
            return f"{name} {got}; expected a matrix of shape {wanted_shape(dims, bound)}"
        for dim, got in zip(dims, matrix.shape, strict=True):
            if dim in FREE_DIMS and dim not in bound:
                low, high = FREE_DIMS[dim]
                if not low <= got <= high:
                    return f"{name} has shape {matrix.shape}; expected {wanted_shape(dims, bound)}"
                bound[dim] = got
            elif got != sum(int(part) if part.isdigit() else bound[part] for part in dim.split("+")):
                return f"{name} has shape {matrix.shape}; expected {wanted_shape(dims, bound)}"
    return None


def wanted_shape(dims, bound):
    """'(3+p, qk) with p = 4, qk <= 64': the shape the spec asks for, with what is known of its free dimensions."""
    names = dict.fromkeys(part for dim in dims for part in dim.split("+") if part in FREE_DIMS)
    facts = []
    for name in names:
        low, high = FREE_DIMS[name]
        facts.append(
            f"{name} = {bound[name]}"
            if name in bound
            else f"{name} <= {high}"
            if low == 1
            else f"{low} <= {name} <= {high}"
        )
    return f"({', '.join(dims)})" + (f" with {', '.join(facts)}" if facts else "")


def shape_verdict(weights, task):
    """A failed verdict when the matrices' shapes are not the spec's, else None."""
    problem = shape_problem(weights, task)
    if problem is None:
        return None
    verdict = fail(WRONG_SHAPE, problem)
    matrices = all(
        isinstance(weights.get(name), np.ndarray) and weights[name].ndim == 2 for name in ("pos", "Km", "Qm", "Vm")
    )
    if task == "position" and matrices and positions_added(weights):
        verdict.diagnosis = POSITIONS_ADDED
    return verdict


@cache
def task_batches(task):
    """A task's every sequence, grouped by length: [(letters of each, inputs (N, L, 3), targets (N, L, 3))]."""
    max_len, target, _ = helpers.TASKS[task]
    batches = []
    for length in range(1, max_len + 1):
        letters = [list(chosen) for chosen in itertools.product("ABC", repeat=length)]
        seqs = np.stack([helpers.encode(chosen) for chosen in letters])  # (N, L, 3)
        targets = np.stack([target(seq) for seq in seqs])  # (N, L, 3)
        seqs.setflags(write=False)  # shared by every call (cached): nobody may change them
        targets.setflags(write=False)
        batches.append((letters, seqs, targets))
    return batches


def batched_forward(weights, seqs):
    """NumpyTransformer's forward pass on N sequences of one length at once: (N, L, token_dim) -> (N, L, v_dim)."""
    Km, Qm, Vm, pos = weights["Km"], weights["Qm"], weights["Vm"], weights.get("pos")
    if pos is not None:
        N, L, _ = seqs.shape
        seqs = np.concatenate([seqs, np.broadcast_to(pos[:L], (N, L, pos.shape[1]))], axis=2)  # (N, L, in_dim)
    K, Q, V = seqs @ Km, seqs @ Qm, seqs @ Vm  # (N, L, qk_dim), (N, L, qk_dim), (N, L, v_dim)
    scores = Q @ K.transpose(0, 2, 1) / math.sqrt(Qm.shape[1])  # (N, L, L): row i holds query i's scores
    shifted = np.exp(scores - scores.max(axis=2, keepdims=True))
    return shifted / shifted.sum(axis=2, keepdims=True) @ V  # (N, L, v_dim)


def failing_sequences(weights, task):
    """helpers.failing_sequences vectorised over each length's sequences: [(letters, expected, produced)], same
    order."""
    failures = []
    for letters, seqs, targets in task_batches(task):
        out = batched_forward(weights, seqs)
        wrong = ~np.isclose(out, targets, rtol=helpers.NOTEBOOK_RTOL).all(axis=(1, 2))  # np.allclose per sequence
        failures += [(letters[index], targets[index], out[index]) for index in np.flatnonzero(wrong)]
    return failures


def judged_weights(weights, task):
    """judge_weights without the memory: every sequence (shapes checked before), then what went wrong on the first
    failure."""
    with np.errstate(all="ignore"):  # NaN or huge weights are the student's; they fail below, quietly
        failures = failing_sequences(weights, task)
    total = sum(len(letters) for letters, _, _ in task_batches(task))
    if failures:
        letters, expected, produced = failures[0]
        summary = (
            f"{len(failures)} of {total} sequences wrong "
            f"(the notebook's check: np.allclose(out, expected, rtol={helpers.NOTEBOOK_RTOL:g}))."
        )
        model = helpers.build_numpy_transformer(weights, numpy_transformer())
        with np.errstate(all="ignore"):
            details = explain_failure(
                model, letters, helpers.encode(letters), expected, produced, task, helpers.NOTEBOOK_RTOL
            )
        return fail(WRONG_VALUE, f"{summary}\n\n{details}")
    return ok(f"all {total} sequences solved")


def weights_case(number, task, function):
    from_either_source(f"{function}()", number)

    def build(submission, g):
        if submission.has("transformer.py"):

            def check(outcome):
                weights = returned_dict(outcome)
                if not weights:
                    return fail(
                        WRONG_SHAPE,
                        f"{function}() should return a dict of matrices, "
                        f"got {outcome.kinds.get('value', 'something else')}",
                    )
                return judge_weights(weights, task)

            return call("transformer", function), check
        log, problem = submission.log
        if log is None:
            return fail(MISSING, f"transformer.py is missing, and {problem}")
        try:
            return judge_weights(logged_weights(log, task), task)
        except (LogKeyError, ValueError) as error:
            return fail(INVALID_LOG, f"transformer.py is missing, and the log's matrices cannot be used: {error}")

    add_case(build, number, f"{function}() solves every sequence of the task", 4.0, public=True)


weights_case("2.8", "content", "attention_by_content")
weights_case("2.9", "position", "attention_by_position")


@case(file="transformer.py", public=True, optional=True)
@number("2.14")
@weight(0.0)
def unique(submission, g):
    """optional: attention_unique() marks unique and repeated tokens (no points)"""

    def check(outcome):
        weights = returned_dict(outcome)
        if not {"Km", "Qm", "Vm"} <= set(weights):
            return fail(WRONG_SHAPE, "attention_unique() should return a dict with Km, Qm, Vm and pos")
        wrong_shape = shape_verdict(weights, "unique")
        if wrong_shape is not None:
            return wrong_shape
        with np.errstate(all="ignore"):
            failures = unique_failures(weights)
        if failures:
            letters, expected, signs = failures[0]
            return fail(
                WRONG_VALUE,
                f"{len(failures)} sequences wrong, e.g. CLS, {', '.join(letters)}:\n"
                f"{shown('expected signs', expected)}\n{shown('got signs', signs)}",
            )
        return ok("every sequence marked correctly")

    return call("transformer", "attention_unique"), check


def unique_failures(weights):
    """helpers.unique_failures vectorised over each length's sequences: [(letters, expected signs, signs)], same
    order."""
    cls = np.append(np.zeros(3), 1.0)  # (4,)
    failures = []
    for letters, seqs, _ in task_batches("content"):  # every sequence of 1 to 6 tokens
        N, L, _ = seqs.shape
        tokens = np.concatenate([seqs, np.zeros((N, L, 1))], axis=2)  # (N, L, 4)
        inputs = np.concatenate([np.broadcast_to(cls, (N, 1, 4)), tokens], axis=1)  # (N, L + 1, 4)
        signs = np.sign(batched_forward(weights, inputs)[:, 1:, 0])  # (N, L)
        expected = np.array([[1.0 if chosen.count(x) == 1 else -1.0 for x in chosen] for chosen in letters])  # (N, L)
        wrong = ~(signs == expected).all(axis=1)
        failures += [(letters[index], expected[index], signs[index]) for index in np.flatnonzero(wrong)]
    return failures
