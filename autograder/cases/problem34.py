"""Problems 3 and 4 cases: argmax attention, softmax attention, and the dot product's mean, variance and scale."""
import numpy as np

from autograder.cases import call, case, rng
from autograder.mistakes import expect_of
from reference import attention as ref

FILE = "attention.py"
KEYS_3A = np.array([[1, 2, 0], [0, 3, 4], [5, 0, 0], [0, 0, 1]], dtype=float)  # problem 3(a)
VALUES_3A = np.array([[2, 0, 1], [1, 4, 3], [0, -1, 4], [1, 0, -1]], dtype=float)
QUERY_3A = np.array([1.0, 1.0, 2.0])


def attention_case(number, name, function, args, weight, public=False):
    """A case comparing one function of attention.py with the reference on fixed arguments."""
    @case(number, name, weight, file=FILE, public=public)
    def build(submission):
        return call("attention", function, *args), expect_of(function, args, getattr(ref, function)(*args), public)


def _tied_keys():
    """Keys 1 and 4 tie for the best score of the query; the answer must be value 1."""
    K = rng("3.3").standard_normal((6, 4))
    K[4] = K[1]
    q = 3.0 * K[1]
    return q, K, rng("3.3.1").standard_normal((6, 3))


def _huge_scores():
    """Scaled scores near 1e3: a softmax without the max shift overflows to inf/nan."""
    Q = rng("4.3").standard_normal((3, 4))
    K = rng("4.3.1").standard_normal((5, 4))
    Q *= 2000.0 / np.abs(Q @ K.T / 2.0).max()
    return Q, K, rng("4.3.2").standard_normal((5, 2))


attention_case("3.1", "argmax attention on the worked example (3(a))", "argmax_attention", (QUERY_3A, KEYS_3A, VALUES_3A), 1.0, public=True)
attention_case("3.2", "argmax attention, five queries at once (2-D q)", "argmax_attention", (rng("3.2").standard_normal((5, 4)), rng("3.2.1").standard_normal((7, 4)), rng("3.2.2").standard_normal((7, 3))), 1.0)
attention_case("3.3", "argmax attention, a tie goes to the lowest index", "argmax_attention", _tied_keys(), 1.0)
attention_case("3.4", "argmax attention, random 1-D query", "argmax_attention", (rng("3.4").standard_normal(6), rng("3.4.1").standard_normal((9, 6)), rng("3.4.2").standard_normal((9, 2))), 1.0)
attention_case("3.5", "argmax attention, a single key and several queries", "argmax_attention", (rng("3.5").standard_normal((3, 2)), rng("3.5.1").standard_normal((1, 2)), rng("3.5.2").standard_normal((1, 4))), 1.0)

attention_case("4.1", "softmax attention on random Q, K, V", "softmax_attention", (rng("4.1").standard_normal((4, 3)), rng("4.1.1").standard_normal((6, 3)), rng("4.1.2").standard_normal((6, 2))), 1.0, public=True)
attention_case("4.2", "softmax attention, a single 1-D query", "softmax_attention", (rng("4.2").standard_normal(5), rng("4.2.1").standard_normal((3, 5)), rng("4.2.2").standard_normal((3, 4))), 0.5)
attention_case("4.3", "softmax attention stays finite for scores near 1e3", "softmax_attention", _huge_scores(), 1.0)
attention_case("4.4", "E[q^T k] for mu = 0.5, sigma = 2, d = 8", "dot_product_mean", (0.5, 2.0, 8), 0.5, public=True)
attention_case("4.5", "E[q^T k] at another (mu, sigma, d)", "dot_product_mean", (-1.5, 0.3, 3), 0.5)
attention_case("4.6", "Var(q^T k) for d = 16", "dot_product_variance", (16,), 0.5, public=True)
attention_case("4.7", "Var(q^T k) at another d", "dot_product_variance", (3,), 0.25)
attention_case("4.8", "attention scale for d = 16", "attention_scale", (16,), 0.5, public=True)
attention_case("4.9", "attention scale at another d", "attention_scale", (7,), 0.25)
