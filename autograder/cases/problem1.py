"""Problem 1 cases: the losses of eqs. (1)-(2), the optimal purifier of eq. (5), the lambda range of 1(c)."""
import numpy as np

from autograder.cases import call, case, rng
from autograder.mistakes import expect_of
from reference import purification as ref

FILE = "purification.py"
X_HOMEWORK = np.array([[-2.17, 1.98, 2.41, -2.03], [0.02, -0.01, 0.01, -0.02]])  # eq. (4)
W_ALPHA, W_BETA = np.eye(2), np.diag([1.0, 0.0])  # eq. (3)
SEED_SINGULAR_VALUES = [10.0, 8.0, 4.0, 1.0, 0.5, 0.36, 0.16, 0.01]  # part 1(c)


def loss_case(number, name, function, args, weight, public=False):
    """A case comparing one loss function with the reference on fixed arguments."""
    @case(number, name, weight, file=FILE, public=public)
    def build(submission):
        return call("purification", function, *args), expect_of(function, args, getattr(ref, function)(*args), public)


loss_case("1.1", "reconstruction loss of W_alpha on the homework's X (1(a))", "reconstruction_loss", (W_ALPHA, X_HOMEWORK), 0.5, public=True)
loss_case("1.2", "reconstruction loss of W_beta on the homework's X (1(a))", "reconstruction_loss", (W_BETA, X_HOMEWORK), 0.5, public=True)
loss_case("1.3", "regularization loss of W_alpha (1(a))", "regularization_loss", (W_ALPHA,), 0.5, public=True)
loss_case("1.4", "regularization loss of W_beta (1(a))", "regularization_loss", (W_BETA,), 0.5, public=True)
loss_case("1.5", "reconstruction loss, random 6 x 6 W and 6 x 9 X", "reconstruction_loss", (rng("1.5").standard_normal((6, 6)), rng("1.5.1").standard_normal((6, 9))), 0.5)
loss_case("1.6", "purification loss, eq. (2), random W and X, lam = 0.7", "purification_loss", (rng("1.6").standard_normal((4, 4)), rng("1.6.1").standard_normal((4, 11)), 0.7), 0.5)

PURIFIER_TABLE = [
    # number, name, X, lam, public
    ("1.7", "optimal purifier, random 5 x 7 X, lam = 2", rng("1.7").standard_normal((5, 7)), 2.0, True),
    ("1.8", "optimal purifier, fewer points than features (6 x 3 X)", rng("1.8").standard_normal((6, 3)), 0.5, False),
    ("1.9", "optimal purifier, tiny lam = 1e-8", rng("1.9").standard_normal((4, 10)), 1e-8, False),
    ("1.10", "optimal purifier, square rank-deficient X", rng("1.10").standard_normal((5, 3)) @ rng("1.10.1").standard_normal((3, 5)), 1.5, False),
]
for number, name, X, lam, public in PURIFIER_TABLE:
    loss_case(number, name, "optimal_purifier", (X, lam), 1.0 if number in ("1.7", "1.8") else 0.5, public=public)


def lambda_case(number, name, args, weight, public=False):
    @case(number, name, weight, file=FILE, public=public)
    def build(submission):
        return call("purification", "purifier_lambda_range", *args), expect_of("purifier_lambda_range", args, ref.purifier_lambda_range(*args), public)


lambda_case("1.11", "lambda range for the seed's singular values, k = 3 (1(c))", (SEED_SINGULAR_VALUES, 3), 1.0, public=True)
lambda_case("1.12", "lambda range, unsorted singular values, keep 0.9, attenuate 0.3", (list(rng("1.12").permutation([9.0, 7.0, 1.5, 1.0, 0.2, 0.1])), 2, 0.9, 0.3), 0.5)
lambda_case("1.13", "lambda range, random spectrum, k = 2", (list(np.sort(rng("1.13").uniform(0, 10, 7))[::-1] * [1, 1, 0.3, 0.3, 0.3, 0.3, 0.3]), 2), 0.5)
lambda_case("1.14", "lambda range that is empty (returns None)", ([1.0, 0.99, 0.5], 1), 0.5)
lambda_case("1.15", "lambda range, ten singular values, k = 5", (list(rng("1.15").permutation([50.0, 40.0, 33.0, 31.0, 30.0, 5.0, 4.0, 1.0, 0.5, 0.0])), 5), 0.5)
lambda_case("1.16", "lambda range with only two singular values", ([3.0, 0.5], 1), 0.5)
lambda_case("1.17", "lambda range that is a single point", ([1.0, 1.0], 1, 0.5, 0.5), 0.5)  # low = high = 1, exactly
