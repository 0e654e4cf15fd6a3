"""Problems 3 and 4 cases: argmax attention, softmax attention, and the dot product's mean, variance and scale."""

import numpy as np

from autograder.homework import reference_module
from autograder.registry import add_case, arguments, call

from ..mistakes import expect_of

ref = reference_module("attention")

FILE = "attention.py"
KEYS_3A = np.array([[1, 2, 0], [0, 3, 4], [5, 0, 0], [0, 0, 1]], dtype=float)  # problem 3(a)
VALUES_3A = np.array([[2, 0, 1], [1, 4, 3], [0, -1, 4], [1, 0, -1]], dtype=float)
QUERY_3A = np.array([1.0, 1.0, 2.0])


def attention_case(number, name, function, args, weight, public=False, fresh=None, constant_answer=""):
    """A case comparing one function of attention.py with the reference; its twin draws `fresh` (or `args`) anew, or is
    the hidden case `fresh` names."""

    def builder(inputs, diagnose):
        def build(submission, g):
            values = arguments(inputs, g)
            expected = getattr(ref, function)(*values)
            return call("attention", function, *values), expect_of(function, values, expected, diagnose)

        return build

    drawn = fresh or (args if public and callable(args) else None)
    twin = drawn if isinstance(drawn, str) else builder(drawn, False) if drawn else None  # a str: a hidden sibling
    add_case(
        builder(args, public),
        number,
        name,
        weight,
        file=FILE,
        public=public,
        twin=twin,
        constant_answer=constant_answer,
    )


def separated_keys(g, queries, keys, dim, values):
    """(q, K, V) whose best key beats the next by a clear margin for every query (no near-tie to round either way)."""
    while True:
        q = g.standard_normal(dim) if queries is None else g.standard_normal((queries, dim))
        K, V = g.standard_normal((keys, dim)), g.standard_normal((keys, values))
        scores = np.sort(np.atleast_2d(q) @ K.T, axis=1)
        if keys == 1 or np.all(scores[:, -1] - scores[:, -2] > 0.05):
            return q, K, V


def tied_keys(g):
    """Keys 1 and 4 tie for the best score of the query, clearly ahead of the others; the answer must be value 1."""
    while True:
        K = g.standard_normal((6, 4))
        K[4] = K[1]
        q = 3.0 * K[1]
        scores = K @ q
        if np.delete(scores, [1, 4]).max() < scores[1] - 0.5:
            return q, K, g.standard_normal((6, 3))


def huge_scores(g):
    """Scaled scores near 1e3: a softmax without the max shift overflows to inf/nan."""
    Q, K = g.standard_normal((3, 4)), g.standard_normal((5, 4))
    Q *= 2000.0 / np.abs(Q @ K.T / 2.0).max()
    return Q, K, g.standard_normal((5, 2))


def moments(g):
    """(mu, sigma, d) with mu away from 0, so that E[q^T k] = d mu^2 is not the 0 a stub returns."""
    return float(g.choice([-1, 1]) * g.uniform(0.5, 2.5)), float(g.uniform(0.3, 3.0)), int(g.integers(2, 30))


def dimension(g):
    return (int(g.integers(2, 200)),)


VARIANCE_IS_D = "Var(q^T k) = d for standard normal q and k: the function returns its own argument"

attention_case(
    "3.1",
    "argmax attention on the worked example (3(a))",
    "argmax_attention",
    (QUERY_3A, KEYS_3A, VALUES_3A),
    1.0,
    public=True,
    fresh="3.4",
)
attention_case(
    "3.2",
    "argmax attention, five queries at once (2-D q)",
    "argmax_attention",
    lambda g: separated_keys(g, 5, 7, 4, 3),
    1.0,
)
attention_case("3.3", "argmax attention, a tie goes to the lowest index", "argmax_attention", tied_keys, 1.0)
attention_case(
    "3.4", "argmax attention, random 1-D query", "argmax_attention", lambda g: separated_keys(g, None, 9, 6, 2), 1.0
)
attention_case(
    "3.5",
    "argmax attention, a single key and several queries",
    "argmax_attention",
    lambda g: separated_keys(g, 3, 1, 2, 4),
    1.0,
)

attention_case(
    "4.1",
    "softmax attention on random Q, K, V",
    "softmax_attention",
    lambda g: (g.standard_normal((4, 3)), g.standard_normal((6, 3)), g.standard_normal((6, 2))),
    1.0,
    public=True,
)
attention_case(
    "4.2",
    "softmax attention, a single 1-D query",
    "softmax_attention",
    lambda g: (g.standard_normal(5), g.standard_normal((3, 5)), g.standard_normal((3, 4))),
    0.5,
)
attention_case("4.3", "softmax attention stays finite for scores near 1e3", "softmax_attention", huge_scores, 1.0)
attention_case(
    "4.4", "E[q^T k] for mu = 0.5, sigma = 2, d = 8", "dot_product_mean", (0.5, 2.0, 8), 0.5, public=True, fresh="4.5"
)
attention_case("4.5", "E[q^T k] at another (mu, sigma, d)", "dot_product_mean", moments, 0.5)
attention_case(
    "4.6",
    "Var(q^T k) for d = 16",
    "dot_product_variance",
    (16,),
    0.5,
    public=True,
    fresh="4.7",
    constant_answer=VARIANCE_IS_D,
)
attention_case("4.7", "Var(q^T k) at another d", "dot_product_variance", dimension, 0.25, constant_answer=VARIANCE_IS_D)
attention_case("4.8", "attention scale for d = 16", "attention_scale", (16,), 0.5, public=True, fresh="4.9")
attention_case("4.9", "attention scale at another d", "attention_scale", dimension, 0.25)
