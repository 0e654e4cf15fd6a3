"""The public test cases: the homework's worked examples and small seeded inputs, shipped to students.

A case names the student module and function, the arguments (numpy arrays or grader-owned
callables by name), and a check run in the parent on the reduced output. Expected values
come from the reference, computed here in the trusted process.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from autograder.compare import compare_arrays
from autograder.grader_callables import elu_plus_one, softmax_sim
from reference import attention as ref_attention
from reference import kernel_attention as ref_kernel
from reference import purification as ref_purification

X_HOMEWORK = np.array([[-2.17, 1.98, 2.41, -2.03], [0.02, -0.01, 0.01, -0.02]])  # eq. (4)
W_ALPHA, W_BETA = np.eye(2), np.diag([1.0, 0.0])  # eq. (3)
SEED_SINGULAR_VALUES = [10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01]  # part 1(c)
KEYS_3A = np.array([[1, 2, 0], [0, 3, 4], [5, 0, 0], [0, 0, 1]], dtype=float)  # problem 3(a)
VALUES_3A = np.array([[2, 0, 1], [1, 4, 3], [0, -1, 4], [1, 0, -1]], dtype=float)
QUERY_3A = np.array([1.0, 1.0, 2.0])
ELU_PLUS_ONE = {"callable": "elu_plus_one"}  # a positive feature map of the grader's own
SOFTMAX_SIM = {"callable": "softmax_sim"}


def _random(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


@dataclass
class Case:
    """One test of one student function; `check(reply)` returns (passed, message).

    The worker's reply holds "shape" and "values" for an array or number, or "dict" for a
    dict of matrices (name -> (shape, values)).
    """

    number: str
    name: str
    module: str
    function: str
    args: list = field(default_factory=list)
    check: Callable = None
    recipe: str = ""  # a worker-side procedure instead of a plain call (see worker.RECIPES)


def _array_reply(check):
    """Wrap a check of (shape, values) so that a dict returned instead fails with a message."""
    def wrapped(reply):
        if "shape" not in reply:
            return False, "expected an array or a number, got a dict"
        return check(reply["shape"], reply["values"])
    return wrapped


def equals(expected, **tolerance):
    """A check that the output equals `expected` (an array or number), shape first."""
    return _array_reply(lambda shape, values: compare_arrays(shape, values, expected, **tolerance))


def gram_equals(X, kernel):
    """A check that phi(X) phi(X)^T equals kernel(X X^T): feature maps may differ, inner products may not."""
    @_array_reply
    def check(shape, values):
        if len(shape) != 2 or shape[0] != X.shape[0]:
            return False, f"expected a feature array with {X.shape[0]} rows, got shape {tuple(shape)}"
        phi = np.array(values).reshape(shape)
        return compare_arrays([X.shape[0]] * 2, (phi @ phi.T).ravel(), kernel(X @ X.T))
    return check


def _cases():
    X_random, Q, K, V = _random(0, 5, 7), _random(1, 6, 4), _random(2, 6, 4), _random(3, 6, 3)
    W_rff = _random(4, 8, 4) / 4**0.25
    yield from [
        Case("1.1", "reconstruction loss of W_alpha on X (1(a))", "purification", "reconstruction_loss", [W_ALPHA, X_HOMEWORK], equals(ref_purification.reconstruction_loss(W_ALPHA, X_HOMEWORK))),
        Case("1.2", "reconstruction loss of W_beta on X (1(a))", "purification", "reconstruction_loss", [W_BETA, X_HOMEWORK], equals(ref_purification.reconstruction_loss(W_BETA, X_HOMEWORK))),
        Case("1.3", "regularization loss of W_beta (1(a))", "purification", "regularization_loss", [W_BETA], equals(ref_purification.regularization_loss(W_BETA))),
        Case("1.4", "purification loss, eq. (2)", "purification", "purification_loss", [W_BETA, X_HOMEWORK, 0.5], equals(ref_purification.purification_loss(W_BETA, X_HOMEWORK, 0.5))),
        Case("1.5", "optimal purifier on a random 5 x 7 X", "purification", "optimal_purifier", [X_random, 2.0], equals(ref_purification.optimal_purifier(X_random, 2.0))),
        Case("1.6", "lambda range for the seed's singular values, k = 3 (1(c))", "purification", "purifier_lambda_range", [SEED_SINGULAR_VALUES, 3], equals(ref_purification.purifier_lambda_range(SEED_SINGULAR_VALUES, 3))),
        Case("3.1", "argmax attention on the worked example (3(a))", "attention", "argmax_attention", [QUERY_3A, KEYS_3A, VALUES_3A], equals(ref_attention.argmax_attention(QUERY_3A, KEYS_3A, VALUES_3A))),
        Case("4.1", "softmax attention on random Q, K, V", "attention", "softmax_attention", [Q, K, V], equals(ref_attention.softmax_attention(Q, K, V))),
        Case("4.2", "E[q^T k] for mu = 0.5, sigma = 2, d = 8", "attention", "dot_product_mean", [0.5, 2.0, 8], equals(ref_attention.dot_product_mean(0.5, 2.0, 8))),
        Case("4.3", "Var(q^T k) for d = 16", "attention", "dot_product_variance", [16], equals(ref_attention.dot_product_variance(16))),
        Case("4.4", "attention scale for d = 16", "attention", "attention_scale", [16], equals(ref_attention.attention_scale(16))),
        Case("5.1", "quadratic kernel similarity", "kernel_attention", "quadratic_kernel_similarity", [Q[0], K[0]], equals(ref_kernel.quadratic_kernel_similarity(Q[0], K[0]))),
        Case("5.2", "quadratic feature map inner products equal (q.k + 1)^2", "kernel_attention", "quadratic_feature_map", [Q], gram_equals(Q, lambda G: (G + 1.0) ** 2)),
        Case("5.3", "similarity attention with the softmax similarity, eq. (11)", "kernel_attention", "similarity_attention", [Q, K, V, SOFTMAX_SIM], equals(ref_kernel.similarity_attention(Q, K, V, softmax_sim))),
        Case("5.4", "kernel attention with a feature map of the grader's, eq. (12)", "kernel_attention", "kernel_attention", [Q, K, V, ELU_PLUS_ONE], equals(ref_kernel.kernel_attention(Q, K, V, elu_plus_one))),
        Case("6.1", "random feature map, eq. (14)", "kernel_attention", "random_feature_map", [Q, W_rff], equals(ref_kernel.random_feature_map(Q, W_rff))),
        Case("6.2", "softmax random feature map", "kernel_attention", "softmax_random_feature_map", [Q, W_rff], equals(ref_kernel.softmax_random_feature_map(Q, W_rff))),
        Case("6.3", "causal kernel attention with prefix sums, eq. (16)", "kernel_attention", "causal_kernel_attention", [Q, K, V, ELU_PLUS_ONE], equals(ref_kernel.causal_kernel_attention(Q, K, V, elu_plus_one))),
    ]
    yield from _transformer_cases()


def _transformer_cases():
    """Problem 2: the seeded PytorchTransformer run and the hand-designed weights on every sequence."""
    from reference import notebook_helpers, transformer  # imports torch: only when these cases are built

    expected_log = notebook_helpers.submission_log(transformer)
    expected_out = np.array(expected_log["torch_transformer_value"])


    def solves(task, total):
        def check(reply):
            if "dict" not in reply:
                return False, "expected a dict of matrices (Km, Qm, Vm, ...), got an array or number"
            matrices = {name: np.array(flat).reshape(dims) for name, (dims, flat) in reply["dict"].items()}
            try:
                failures = notebook_helpers.failing_sequences(matrices, task, transformer.NumpyTransformer)
            except (KeyError, ValueError) as error:
                return False, f"the weights cannot be used: {error!r}"
            if failures:
                letters, expected, out = failures[0]
                return False, f"{len(failures)} of {total} sequences wrong, e.g. {letters}: expected {expected.tolist()}, got {np.round(out, 4).tolist()}"
            return True, f"all {total} sequences solved"
        return check

    yield Case("2.1", "PytorchTransformer(7, 4, 3, 2, 9) after seeding 1998", "transformer", "PytorchTransformer", check=equals(expected_out, rtol=0, atol=1e-5), recipe="torch_check")
    yield Case("2.2", "attention by content solves all 1092 sequences", "transformer", "attention_by_content", check=solves("content", 1092))
    yield Case("2.3", "attention by position solves all 120 sequences", "transformer", "attention_by_position", check=solves("position", 120))


def public_cases():
    """All public cases, ordered by number."""
    return sorted(_cases(), key=lambda case: [int(part) for part in case.number.split(".")])
