"""Problems 5 and 6 cases: similarity and kernel attention, feature maps, random features, causal prefix sums.

Attention functions get the grader's own similarity functions and feature maps, so each is
graded on its own. Feature maps are judged by their inner products, not their layout, except in
6.1, which checks the layout random_feature_map's docstring fixes (sines, then cosines).
"""

from autograder.checks import expect
from autograder.homework import reference_module
from autograder.registry import add_case, arguments, call, grader_callable, rng

from ..grader_callables import GRADER_CALLABLES
from ..mistakes import expect_of, feature_gram_of, gram_of

ref = reference_module("kernel_attention")

FILE = "kernel_attention.py"
BIG_N = 50_000  # an N x N float64 array is 20 GB here: far past the worker's memory cap


def qkv(N, D, M):
    """Inputs: random Q, K (N, D) and V (N, M) from the case's generator."""
    return lambda g: (g.standard_normal((N, D)), g.standard_normal((N, D)), g.standard_normal((N, M)))


def twin_of(args, public):
    """A public case drawing its inputs (a function of the generator) is checked again on fresh ones."""
    return public and callable(args)


def kernel_case(number, name, function, arrays, callable_name, weight, public=False, timeout=None, twin=None):
    """A case calling an attention function with the grader's similarity or feature map (`twin`: a hidden sibling)."""

    def build(submission, g):
        values = (*arguments(arrays, g), grader_callable(callable_name))
        expected = getattr(ref, function)(*values[:-1], GRADER_CALLABLES[callable_name])
        return call("kernel_attention", function, *values), expect_of(function, values, expected, public)

    add_case(
        build, number, name, weight, file=FILE, public=public, timeout=timeout, twin=twin or twin_of(arrays, public)
    )


_BIG_BASES = {}  # number -> (Q, K, V, expected) of a big case, drawn from rng(number) once per process


def big_case(number, name, function, weight):
    """A case at N = BIG_N, whose point is the memory and time an N x N array would take.

    Drawing and solving 50,000 rows for every submission costs the grader more than the rest of a
    problem, so the rows come from a base drawn once per process and each submission's generator
    moves its values: V becomes V * a + b, column by column (a, b random). Attention averages the
    values with weights that sum to 1, so the answer moves the same way, exactly, at O(N) cost.
    """

    def build(submission, g):
        if number not in _BIG_BASES:
            Q, K, V = qkv(BIG_N, 4, 4)(rng(number))
            _BIG_BASES[number] = Q, K, V, getattr(ref, function)(Q, K, V, GRADER_CALLABLES["elu_plus_one"])
        Q, K, V, base = _BIG_BASES[number]
        scale, shift = g.choice([-1.0, 1.0], 4) * g.uniform(0.5, 2.0, 4), g.uniform(-1.0, 1.0, 4)
        moved = V * scale + shift  # (N, 4)
        job = call("kernel_attention", function, Q, K, moved, grader_callable("elu_plus_one"))
        return job, expect(base * scale + shift)

    add_case(build, number, name, weight, file=FILE, timeout=20)


def plain_case(number, name, function, args, weight, public=False, twin=None):
    def build(submission, g):
        values = arguments(args, g)
        expected = getattr(ref, function)(*values)
        return call("kernel_attention", function, *values), expect_of(function, values, expected, public)

    add_case(build, number, name, weight, file=FILE, public=public, twin=twin or twin_of(args, public))


def gram_case(number, name, shape, weight, public=False):
    """phi(X) phi(X)^T must equal (X X^T + 1)^2, with at most 1 + D + D^2 features."""

    def build(submission, g):
        X = g.standard_normal(shape)
        return call("kernel_attention", "quadratic_feature_map", X), gram_of(X, public)

    add_case(build, number, name, weight, file=FILE, public=public, twin=public)


def random_gram_case(number, name, function, args, weight, public=False, twin=None):
    """phi(X) phi(X)^T must equal the reference's, with 2R features in any column order (X's rows: queries and keys)."""

    def build(submission, g):
        values = arguments(args, g)
        expected = getattr(ref, function)(*values)
        return call("kernel_attention", function, *values), feature_gram_of(function, values, expected, public)

    add_case(build, number, name, weight, file=FILE, public=public, twin=twin or twin_of(args, public))


def features(rows, dim, R, scale=1.0):
    """Inputs: X (rows, dim), times `scale`, and R random features W drawn as the reference draws them."""
    return lambda g: (scale * g.standard_normal((rows, dim)), ref.sample_softmax_random_features(R, dim, g))


plain_case(
    "5.1",
    "softmax similarity of two rows",
    "softmax_similarity",
    lambda g: (g.standard_normal(4), g.standard_normal(4)),
    0.25,
    public=True,
)
plain_case(
    "5.2",
    "quadratic kernel similarity of two rows (5(b)i)",
    "quadratic_kernel_similarity",
    lambda g: (g.standard_normal(4), g.standard_normal(4)),
    0.25,
    public=True,
)
kernel_case(
    "5.3",
    "similarity attention with the softmax similarity, eq. (11)",
    "similarity_attention",
    qkv(6, 4, 3),
    "softmax_sim",
    1.0,
    public=True,
)
kernel_case(
    "5.4",
    "similarity attention with the quadratic similarity, N = 1",
    "similarity_attention",
    qkv(1, 3, 2),
    "quadratic_sim",
    1.0,
)
gram_case("5.5", "quadratic feature map: inner products equal (q.k + 1)^2 (5(b)ii)", (5, 3), 1.0, public=True)
gram_case("5.6", "quadratic feature map, one row of dimension 1", (1, 1), 1.0)
kernel_case(
    "5.7",
    "kernel attention with a feature map of the grader's, eq. (12)",
    "kernel_attention",
    qkv(6, 4, 3),
    "elu_plus_one",
    1.0,
    public=True,
    twin="5.10",
)
kernel_case(
    "5.8",
    "kernel attention with a quadratic feature map, N = 1",
    "kernel_attention",
    qkv(1, 2, 3),
    "quadratic_features",
    1.0,
)
big_case("5.9", f"kernel attention is linear in N (N = {BIG_N})", "kernel_attention", 2.0)
kernel_case("5.10", "kernel attention, random shapes", "kernel_attention", qkv(50, 3, 5), "elu_plus_one", 0.5)
kernel_case(
    "5.11",
    "similarity attention calls sim(Q_i, K_j), not sim(K_j, Q_i)",
    "similarity_attention",
    qkv(5, 3, 2),
    "asymmetric_sim",
    1.0,
)

plain_case(
    "6.1",
    "random feature map, eq. (14): sines, then cosines",
    "random_feature_map",
    features(6, 4, 8),
    1.0,
    public=True,
)  # its twin checks the layout too: 6.2 judges only the inner products
random_gram_case(
    "6.2",
    "random feature map, other shapes: inner products equal eq. (14)'s",
    "random_feature_map",
    features(7, 3, 5),
    1.0,
)
random_gram_case(
    "6.3",
    "softmax random feature map: inner products",
    "softmax_random_feature_map",
    features(6, 4, 8, scale=0.5),
    1.0,
    public=True,
    twin="6.4",
)
random_gram_case(
    "6.4",
    "softmax random feature map, W drawn by the grader with R = 2000: inner products",
    "softmax_random_feature_map",
    features(5, 3, 2000, scale=0.4),
    1.0,
)
kernel_case(
    "6.5",
    "causal kernel attention with prefix sums, eq. (16)",
    "causal_kernel_attention",
    qkv(6, 4, 3),
    "elu_plus_one",
    1.0,
    public=True,
    twin="6.9",
)
kernel_case("6.6", "causal kernel attention, N = 1", "causal_kernel_attention", qkv(1, 3, 2), "elu_plus_one", 1.0)
kernel_case(
    "6.7",
    "causal kernel attention, N = 300 with a quadratic feature map",
    "causal_kernel_attention",
    qkv(300, 3, 2),
    "quadratic_features",
    1.0,
)
big_case("6.8", f"causal kernel attention is linear in N (N = {BIG_N})", "causal_kernel_attention", 2.0)
kernel_case(
    "6.9", "causal kernel attention, random shapes", "causal_kernel_attention", qkv(40, 5, 3), "elu_plus_one", 1.0
)
