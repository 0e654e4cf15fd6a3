"""Problem 1 cases: the losses of eqs. (1)-(2), the optimal purifier of eq. (5), the lambda range of 1(c).

Arguments are literal (the homework's examples) or drawn from the case's generator (a function
of it); a public case with literal arguments names `fresh` inputs of the same kind for its twin.
"""

import numpy as np

from autograder.homework import reference_module
from autograder.registry import add_case, arguments, call

from ..mistakes import expect_of

ref = reference_module("purification")

FILE = "purification.py"
X_HOMEWORK = np.array([[-2.17, 1.98, 2.41, -2.03], [0.02, -0.01, 0.01, -0.02]])  # eq. (4)
W_ALPHA, W_BETA = np.eye(2), np.diag([1.0, 0.0])  # eq. (3)
SEED_SINGULAR_VALUES = [10.0, 8.0, 4.0, 1.0, 0.5, 0.36, 0.16, 0.01]  # part 1(c)


def function_case(number, name, function, args, weight, public=False, fresh=None, constant_answer=""):
    """A case comparing one function of purification.py with the reference; its twin draws `fresh` (or `args`) anew,
    or is the hidden case `fresh` names."""

    def builder(inputs, diagnose):
        def build(submission, g):
            values = arguments(inputs, g)
            expected = getattr(ref, function)(*values)
            return call("purification", function, *values), expect_of(function, values, expected, diagnose)

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


def normal(*shape):
    """Inputs: standard normal arrays of these shapes."""
    return lambda g: tuple(g.standard_normal(size) for size in shape)


def separated_spectrum(g, count=8, k=3):
    """Distinct singular values whose top k are more than twice the rest, so that the 1(c) range is not empty."""
    top, rest = g.uniform(5.0, 10.0, k), g.uniform(0.05, 2.0, count - k)
    return [float(s) for s in np.sort(np.concatenate([top, rest]))[::-1]]


function_case(
    "1.1",
    "reconstruction loss of W_alpha on the homework's X (1(a))",
    "reconstruction_loss",
    (W_ALPHA, X_HOMEWORK),
    0.5,
    public=True,
    fresh="1.5",
)
function_case(
    "1.2",
    "reconstruction loss of W_beta on the homework's X (1(a))",
    "reconstruction_loss",
    (W_BETA, X_HOMEWORK),
    0.5,
    public=True,
    fresh="1.5",
)
function_case(
    "1.3",
    "regularization loss of W_alpha (1(a))",
    "regularization_loss",
    (W_ALPHA,),
    0.5,
    public=True,
    fresh=normal((2, 2)),
)
function_case(
    "1.4",
    "regularization loss of W_beta (1(a))",
    "regularization_loss",
    (W_BETA,),
    0.5,
    public=True,
    fresh=normal((2, 2)),
)
function_case(
    "1.5", "reconstruction loss, random 6 x 6 W and 6 x 9 X", "reconstruction_loss", normal((6, 6), (6, 9)), 0.5
)
function_case(
    "1.6",
    "purification loss, eq. (2), random W and X, lam = 0.7",
    "purification_loss",
    lambda g: (g.standard_normal((4, 4)), g.standard_normal((4, 11)), 0.7),
    0.5,
)

PURIFIER_TABLE = [
    # number, name, inputs, weight, public
    ("1.7", "optimal purifier, random 5 x 7 X, lam = 2", lambda g: (g.standard_normal((5, 7)), 2.0), 1.0, True),
    (
        "1.8",
        "optimal purifier, fewer points than features (6 x 3 X)",
        lambda g: (g.standard_normal((6, 3)), 0.5),
        1.0,
        False,
    ),
    ("1.9", "optimal purifier, tiny lam = 1e-8", lambda g: (g.standard_normal((4, 10)), 1e-8), 0.5, False),
    (
        "1.10",
        "optimal purifier, square rank-deficient X",
        lambda g: (g.standard_normal((5, 3)) @ g.standard_normal((3, 5)), 1.5),
        0.5,
        False,
    ),
]
for number, name, inputs, weight, public in PURIFIER_TABLE:
    function_case(number, name, "optimal_purifier", inputs, weight, public=public)


def lambda_case(number, name, args, weight, public=False, fresh=None):
    function_case(number, name, "purifier_lambda_range", args, weight, public=public, fresh=fresh)


lambda_case(
    "1.11",
    "lambda range for the seed's singular values, k = 3 (1(c))",
    (SEED_SINGULAR_VALUES, 3),
    1.0,
    public=True,
    fresh=lambda g: (separated_spectrum(g), 3),
)
lambda_case(
    "1.12",
    "lambda range, unsorted singular values, keep 0.9, attenuate 0.3",
    lambda g: (list(g.permutation([9.0, 7.0, 1.5, 1.0, 0.2, 0.1])), 2, 0.9, 0.3),
    0.5,
)
lambda_case(
    "1.13",
    "lambda range, random spectrum, k = 2",
    lambda g: (list(np.sort(g.uniform(1, 10, 7))[::-1] * [1, 1, 0.3, 0.3, 0.3, 0.3, 0.3]), 2),
    0.5,
)
# The empty range's answer is None, which a stub returns: the case counts only if a non-empty range is right too.
lambda_case(
    "1.14",
    "lambda range that is empty (returns None)",
    ([1.0, 0.99, 0.5], 1),
    0.5,
    fresh=lambda g: (separated_spectrum(g, count=4, k=1), 1),
)
lambda_case(
    "1.15",
    "lambda range, ten singular values, k = 5",
    lambda g: (list(g.permutation([50.0, 40.0, 33.0, 31.0, 30.0, 5.0, 4.0, 1.0, 0.5, 0.0])), 5),
    0.5,
)
lambda_case("1.16", "lambda range with only two singular values", ([3.0, 0.5], 1), 0.5)
lambda_case("1.17", "lambda range that is a single point", ([2.0, 2.0], 1, 0.5, 0.5), 0.5)  # low = high = 4, exactly
