"""Checks reference/purification.py (problem 1) against loops, normal equations and hand derivations."""

import numpy as np
import pytest

from reference import purification as P

# Eq. (4) of the homework.
X_EQ4 = np.array([[-2.17, 1.98, 2.41, -2.03], [0.02, -0.01, 0.01, -0.02]])
W_ALPHA = np.eye(2)
W_BETA = np.array([[1.0, 0.0], [0.0, 0.0]])
SEED_SIGMAS = [10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01]


def loop_reconstruction(W, X):
    """sum_{i,j} (X_ij - sum_k W_ik X_kj)^2 with explicit loops."""
    m, n = X.shape
    total = 0.0
    for i in range(m):
        for j in range(n):
            wx = sum(W[i, k] * X[k, j] for k in range(m))
            total += (X[i, j] - wx) ** 2
    return total


def loop_regularization(W):
    return sum(W[i, j] ** 2 for i in range(W.shape[0]) for j in range(W.shape[1]))


def normal_equations(X, lam):
    """Setting the gradient 2(WX - X)X^T + 2 lam W to 0 gives W (X X^T + lam I) = X X^T.

    Both G = X X^T and A = G + lam I are symmetric, so W^T = A^{-1} G, i.e. W = solve(A, G)^T.
    """
    G = X @ X.T
    A = G + lam * np.eye(X.shape[0])
    return np.linalg.solve(A, G).T


def gradient(W, X, lam):
    return 2 * (W @ X - X) @ X.T + 2 * lam * W


@pytest.mark.parametrize(
    "m, n, seed",
    [
        (1, 1, 0),  # scalars
        (2, 5, 1),  # wide data
        (5, 2, 2),  # tall data
        (4, 4, 3),  # square
        (7, 13, 4),  # larger, odd sizes
    ],
)
def test_losses_against_loops(m, n, seed):
    rng = np.random.default_rng(seed)
    W, X = rng.standard_normal((m, m)), rng.standard_normal((m, n))
    lam = rng.uniform(0.1, 3.0)
    rec, reg = loop_reconstruction(W, X), loop_regularization(W)
    assert P.reconstruction_loss(W, X) == pytest.approx(rec, rel=1e-12)
    assert P.reconstruction_loss(W, X) == pytest.approx(np.linalg.norm(X - W @ X, "fro") ** 2, rel=1e-12)
    assert P.regularization_loss(W) == pytest.approx(reg, rel=1e-12)
    assert P.regularization_loss(W) == pytest.approx(np.linalg.norm(W, "fro") ** 2, rel=1e-12)
    assert P.purification_loss(W, X, lam) == pytest.approx(rec + lam * reg, rel=1e-12)


@pytest.mark.parametrize(
    "W, reconstruction, regularization",
    [
        # W_alpha = I: X - I X = 0, so reconstruction 0; ||I_2||_F^2 = 1 + 1 = 2.
        (W_ALPHA, 0.0, 2.0),
        # W_beta zeroes the second row: residual is row 2 of X,
        # 0.02^2 + 0.01^2 + 0.01^2 + 0.02^2 = 0.0004 + 0.0001 + 0.0001 + 0.0004 = 0.001 (the homework's number);
        # ||W_beta||_F^2 = 1.
        (W_BETA, 0.001, 1.0),
    ],
)
def test_homework_table_1a(W, reconstruction, regularization):
    assert P.reconstruction_loss(W, X_EQ4) == pytest.approx(reconstruction, abs=1e-12)
    assert P.regularization_loss(W) == pytest.approx(regularization, abs=1e-12)
    # L_2 = reconstruction + lam * regularization, e.g. lam = 0.5.
    assert P.purification_loss(W, X_EQ4, 0.5) == pytest.approx(reconstruction + 0.5 * regularization, abs=1e-12)


def test_homework_1a_ii_crossover():
    # 1(a)ii: L2(alpha) = 2 lam, L2(beta) = 0.001 + lam; alpha is not better iff 2 lam >= 0.001 + lam, lam >= 0.001.
    for lam, alpha_not_better in [(0.0005, False), (0.002, True), (1.0, True)]:
        la, lb = P.purification_loss(W_ALPHA, X_EQ4, lam), P.purification_loss(W_BETA, X_EQ4, lam)
        assert (la >= lb) == alpha_not_better


@pytest.mark.parametrize(
    "m, n, lam, seed",
    [
        (3, 10, 0.7, 0),  # n > m, full row rank
        (6, 20, 5.0, 1),  # n > m, larger lam
        (6, 3, 0.3, 2),  # n < m: rank-deficient, three directions unseen
        (5, 5, 1.0, 3),  # n == m
        (1, 4, 2.0, 4),  # m = 1
        (4, 1, 0.1, 5),  # a single data point
    ],
)
def test_optimal_purifier_normal_equations(m, n, lam, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)) * rng.uniform(0.5, 3.0)
    W = np.asarray(P.optimal_purifier(X, lam), dtype=np.float64)
    assert W.shape == (m, m)
    np.testing.assert_allclose(W, normal_equations(X, lam), atol=1e-10, rtol=1e-9)
    # first-order condition of eq. (2)
    np.testing.assert_allclose(gradient(W, X, lam), 0.0, atol=1e-9)
    # U diag(.) U^T is symmetric
    np.testing.assert_allclose(W, W.T, atol=1e-12)
    # strictly convex objective: any perturbation increases the loss
    base = P.purification_loss(W, X, lam)
    for _ in range(5):
        D = rng.standard_normal((m, m)) * 1e-3
        assert P.purification_loss(W + D, X, lam) > base


def test_optimal_purifier_tiny_lambda_full_row_rank():
    # With X of full row rank and lam -> 0, W -> X X^T (X X^T)^{-1} = I.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((4, 9))
    lam = 1e-8
    W = P.optimal_purifier(X, lam)
    np.testing.assert_allclose(W, normal_equations(X, lam), atol=1e-10)
    np.testing.assert_allclose(W, np.eye(4), atol=1e-6)


def test_optimal_purifier_rank_deficient_kills_unseen_directions():
    # n < m: any v orthogonal to the columns of X satisfies X^T v = 0, so (XX^T + lam I) W^T v = 0 => W v = 0.
    rng = np.random.default_rng(8)
    X = rng.standard_normal((5, 2))
    W = P.optimal_purifier(X, 0.5)
    Q, _ = np.linalg.qr(np.concatenate([X, rng.standard_normal((5, 3))], axis=1))
    unseen = Q[:, 2:]  # (5, 3), orthogonal to span(X)
    np.testing.assert_allclose(W @ unseen, 0.0, atol=1e-12)


def test_seed_lambda_range():
    # Top 3 of {10, 8, 4, ...}: the weakest kept is 4: 16/(16 + lam) >= 0.8 <=> lam <= 16 * 0.25 = 4.
    # Strongest attenuated is 1: 1/(1 + lam) <= 0.5 <=> lam >= 1 * 1 = 1.  So [1, 4].
    low, high = P.purifier_lambda_range(SEED_SIGMAS, 3)
    assert (low, high) == (pytest.approx(1.0, abs=1e-12), pytest.approx(4.0, abs=1e-12))


@pytest.mark.parametrize(
    "order",
    [
        [0.01, 0.16, 0.36, 0.5, 1, 4, 8, 10],  # ascending
        [1, 0.36, 10, 0.01, 4, 0.5, 8, 0.16],  # shuffled
    ],
)
def test_seed_lambda_range_unsorted(order):
    low, high = P.purifier_lambda_range(np.array(order, dtype=float), 3)
    assert low == pytest.approx(1.0, abs=1e-12) and high == pytest.approx(4.0, abs=1e-12)


def sweep_conditions(sigmas, k, lams, keep, attenuate, slack=0.0):
    """Brute-force 1(c), for each lam of `lams`: do the k largest keep >= keep and the rest <= attenuate?"""
    s = np.asarray(sigmas, dtype=float)
    order = np.argsort(-s)
    top, rest = s[order[:k]], s[order[k:]]
    lams = np.asarray(lams, dtype=float)[:, None]  # (G, 1)
    kept = top**2 / (top**2 + lams)  # (G, k)
    other = rest**2 / (rest**2 + lams)  # (G, n - k)
    return np.all(kept >= keep - slack, axis=1) & np.all(other <= attenuate + slack, axis=1)  # (G,)


@pytest.mark.parametrize(
    "n_sigma, k, keep, attenuate, seed",
    [
        (8, 3, 0.8, 0.5, 0),  # the homework's thresholds
        (5, 1, 0.8, 0.5, 1),  # keep only the top direction
        (6, 5, 0.8, 0.5, 2),  # attenuate only the last
        (10, 4, 0.9, 0.3, 3),  # other thresholds
        (4, 2, 0.6, 0.6, 4),  # keep == attenuate
        (12, 6, 0.95, 0.05, 5),  # strict thresholds: often empty
        (3, 2, 0.5, 0.5, 6),  # loose thresholds
    ],
)
def test_lambda_range_brute_force(n_sigma, k, keep, attenuate, seed):
    rng = np.random.default_rng(seed)
    for trial in range(40):
        sigmas = np.exp(rng.uniform(-3, 3, size=n_sigma))
        if trial == 0:
            sigmas[-1] = 0.0  # a zero singular value is always attenuated
        result = P.purifier_lambda_range(sigmas, k, keep=keep, attenuate=attenuate)
        grid = np.geomspace(1e-10, 1e8, 5000)
        if result is None:
            assert not sweep_conditions(sigmas, k, grid, keep, attenuate).any(), sigmas
            continue
        low, high = result
        assert 0 <= low <= high
        grid = np.concatenate([grid, [low, high, (low + high) / 2]])
        grid = grid[grid > 0]
        ok = sweep_conditions(sigmas, k, grid, keep, attenuate, slack=1e-12)
        inside = (grid >= low) & (grid <= high)
        outside = (grid < low * (1 - 1e-9)) | (grid > high * (1 + 1e-9))  # tolerance at the endpoints
        assert ok[inside].all(), (sigmas, grid[inside & ~ok])
        assert not ok[outside].any(), (sigmas, grid[outside & ok])
        # the interval is not degenerate in the sweep: its endpoints are attained
        assert ok[-3:-1].all() or low == 0.0


def test_lambda_range_brute_force_sees_both_outcomes():
    # The random spectra above produce both empty and non-empty intervals (the sweep is not vacuous).
    rng = np.random.default_rng(0)
    results = [P.purifier_lambda_range(np.exp(rng.uniform(-3, 3, 8)), 3) for _ in range(100)]
    assert any(r is None for r in results) and any(r is not None for r in results)


@pytest.mark.parametrize(
    "sigmas, k",
    [
        # keep needs lam <= 1 * 0.25 = 0.25; attenuate needs lam >= 0.99^2 = 0.9801: empty.
        ([1.0, 0.99], 1),
        # keep needs lam <= 4 * 0.25 = 1; attenuate needs lam >= 1.5^2 = 2.25: empty.
        ([2.0, 1.5, 0.1], 1),
    ],
)
def test_lambda_range_empty(sigmas, k):
    assert P.purifier_lambda_range(sigmas, k) is None


@pytest.mark.parametrize(
    "sigmas, k",
    [
        ([3.0, 2.0, 1.0], 0),  # k below 1
        ([3.0, 2.0, 1.0], 3),  # k == len: nothing left to attenuate
        ([3.0, 2.0, 1.0], 4),  # k beyond len
        ([3.0, 2.0, 1.0], -1),  # negative k
    ],
)
def test_lambda_range_bad_k(sigmas, k):
    with pytest.raises(ValueError):
        P.purifier_lambda_range(sigmas, k)
