"""Checks reference/attention.py (problems 3 and 4) against hand derivations, torch and Monte Carlo."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference import attention as A

# Problem 3(a) of the homework.
KEYS_3A = np.array([[1, 2, 0], [0, 3, 4], [5, 0, 0], [0, 0, 1]], dtype=float)
VALUES_3A = np.array([[2, 0, 1], [1, 4, 3], [0, -1, 4], [1, 0, -1]], dtype=float)
QUERY_3A = np.array([1, 1, 2], dtype=float)


def sdpa(Q, K, V):
    """softmax(Q K^T / sqrt(d)) V by torch, in float64; Q may be 1-D."""
    q = torch.as_tensor(np.atleast_2d(Q), dtype=torch.float64)
    out = F.scaled_dot_product_attention(
        q, torch.as_tensor(K, dtype=torch.float64), torch.as_tensor(V, dtype=torch.float64)
    )
    out = out.numpy()
    return out[0] if np.ndim(Q) == 1 else out


def test_argmax_homework_3a():
    # scores q.k: 1+2+0 = 3, 0+3+8 = 11, 5+0+0 = 5, 0+0+2 = 2 -> key 2 (index 1) wins -> value (1, 4, 3).
    np.testing.assert_array_equal(QUERY_3A @ KEYS_3A.T, [3, 11, 5, 2])  # the derivation itself
    out = np.asarray(A.argmax_attention(QUERY_3A, KEYS_3A, VALUES_3A), dtype=float)
    assert out.shape == (3,)
    np.testing.assert_array_equal(out, [1, 4, 3])


@pytest.mark.parametrize(
    "n_q, n, d, m, seed",
    [
        (1, 4, 3, 3, 0),  # a single query as a 2-D batch
        (5, 7, 2, 4, 1),  # several queries
        (10, 1, 5, 2, 2),  # a single key: every query gets V[0]
        (3, 20, 8, 1, 3),  # one value dimension
    ],
)
def test_argmax_batched_equals_stacked(n_q, n, d, m, seed):
    rng = np.random.default_rng(seed)
    Q, K, V = rng.standard_normal((n_q, d)), rng.standard_normal((n, d)), rng.standard_normal((n, m))
    batched = np.asarray(A.argmax_attention(Q, K, V), dtype=float)
    assert batched.shape == (n_q, m)
    stacked = np.stack([np.asarray(A.argmax_attention(q, K, V), dtype=float) for q in Q])
    np.testing.assert_array_equal(batched, stacked)
    # and both equal a plain loop over keys
    for i, q in enumerate(Q):
        best = max(range(n), key=lambda j: (float(q @ K[j]), -j))
        np.testing.assert_array_equal(batched[i], V[best])


@pytest.mark.parametrize(
    "keys, query, expected_index",
    [
        # keys 1 and 3 are identical and best (score 2): lowest index 1 wins.
        ([[0, 0], [1, 1], [1, -1], [1, 1]], [1, 1], 1),
        # all keys identical: index 0 wins.
        ([[2, 0], [2, 0], [2, 0]], [1, 0], 0),
        # zero query: every score is 0, index 0 wins.
        ([[3, 1], [1, 3], [-1, 0]], [0, 0], 0),
        # different keys with equal scores: (1,0).(1,1) = 1 = (0,1).(1,1); index 0 wins over index 2's 1.
        ([[1, 0], [-5, -5], [0, 1]], [1, 1], 0),
    ],
)
def test_argmax_ties_lowest_index(keys, query, expected_index):
    K = np.array(keys, dtype=float)
    V = np.arange(K.shape[0] * 2, dtype=float).reshape(-1, 2) * 10 + 1  # distinct rows
    out = np.asarray(A.argmax_attention(np.array(query, dtype=float), K, V), dtype=float)
    np.testing.assert_array_equal(out, V[expected_index])
    # batched too
    out2 = np.asarray(A.argmax_attention(np.array([query, query], dtype=float), K, V), dtype=float)
    np.testing.assert_array_equal(out2, np.stack([V[expected_index]] * 2))


def test_argmax_float32():
    out = np.asarray(
        A.argmax_attention(QUERY_3A.astype(np.float32), KEYS_3A.astype(np.float32), VALUES_3A.astype(np.float32)),
        dtype=float,
    )
    np.testing.assert_array_equal(out, [1, 4, 3])
    rng = np.random.default_rng(4)
    Q, K, V = (rng.standard_normal(s).astype(np.float32) for s in ((6, 3), (9, 3), (9, 2)))
    out = np.asarray(A.argmax_attention(Q, K, V), dtype=float)
    best = np.argmax(Q.astype(float) @ K.astype(float).T, axis=1)
    np.testing.assert_array_equal(out, V.astype(float)[best])


@pytest.mark.parametrize(
    "n_q, n, d, m, seed",
    [
        (1, 1, 1, 1, 0),  # everything size 1: output is V
        (4, 6, 3, 2, 1),  # small
        (8, 5, 16, 7, 2),  # n_q > n
        (3, 30, 64, 5, 3),  # wide head
        (20, 20, 2, 20, 4),  # square self-attention sizes
    ],
)
def test_softmax_attention_against_torch(n_q, n, d, m, seed):
    rng = np.random.default_rng(seed)
    Q, K, V = rng.standard_normal((n_q, d)), rng.standard_normal((n, d)), rng.standard_normal((n, m))
    out = np.asarray(A.softmax_attention(Q, K, V), dtype=float)
    assert out.shape == (n_q, m)
    np.testing.assert_allclose(out, sdpa(Q, K, V), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, d, m, seed", [(5, 3, 2, 0), (1, 4, 4, 1), (12, 8, 3, 2)])  # 1-D query cases
def test_softmax_attention_1d_query(n, d, m, seed):
    rng = np.random.default_rng(seed)
    q, K, V = rng.standard_normal(d), rng.standard_normal((n, d)), rng.standard_normal((n, m))
    out = np.asarray(A.softmax_attention(q, K, V), dtype=float)
    assert out.shape == (m,)
    np.testing.assert_allclose(out, sdpa(q, K, V), rtol=1e-10, atol=1e-12)


def test_softmax_attention_float32():
    rng = np.random.default_rng(5)
    Q, K, V = rng.standard_normal((4, 8)), rng.standard_normal((6, 8)), rng.standard_normal((6, 3))
    out = np.asarray(A.softmax_attention(*(a.astype(np.float32) for a in (Q, K, V))), dtype=float)
    np.testing.assert_allclose(out, sdpa(Q, K, V), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "target, seed",
    [
        (1000.0, 0),  # scores near 1e3: exp overflows float64 without shifting
        (800.0, 1),  # just above float64's exp overflow at ~709
        (-1000.0, 2),  # large negative scores: exp underflows to 0 without shifting
    ],
)
def test_softmax_attention_stable_large_scores(target, seed):
    rng = np.random.default_rng(seed)
    n, d, m = 6, 4, 3
    Q = rng.standard_normal((3, d))
    K = rng.standard_normal((n, d))
    V = rng.standard_normal((n, m))
    # Scale so the scores Q K^T / sqrt(d) sit near `target`, with spreads of order 1 among them.
    raw = Q @ K.T / math.sqrt(d)  # (3, n)
    # Add a shared offset to every key along a direction each query sees equally:
    # append a coordinate c to queries and keys, adding c^2 / sqrt(d + 1) to every score.
    c = math.sqrt(abs(target) * math.sqrt(d + 1))
    Qb = np.concatenate([Q, np.full((3, 1), c)], axis=1)
    Kb = np.concatenate([K * math.sqrt((d + 1) / d), np.full((n, 1), math.copysign(1.0, target) * c)], axis=1)
    scores = Qb @ Kb.T / math.sqrt(d + 1)
    np.testing.assert_allclose(scores, raw + target, rtol=1e-12)  # the construction did what it says
    out = np.asarray(A.softmax_attention(Qb, Kb, V), dtype=float)
    assert np.all(np.isfinite(out))
    # softmax is shift-invariant: same as attention on the unshifted scores, computed directly.
    w = np.exp(raw - raw.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, (w / w.sum(axis=1, keepdims=True)) @ V, rtol=1e-9, atol=1e-12)


def test_softmax_attention_argmax_limit():
    # Scores ~1e3 with gaps of >= ~100 between the top key and the rest: softmax weights are 1 and
    # exp(-100) ~ 4e-44, so the output equals argmax attention's.
    rng = np.random.default_rng(6)
    d = 4
    K = np.eye(d) * np.array([1000.0, 900.0, 800.0, 700.0])[:, None] * math.sqrt(d)
    V = rng.standard_normal((d, 2))
    Q = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 1.2, 0.0, 0.0], [0.5, 0.5, 2.0, 0.0]])
    out = np.asarray(A.softmax_attention(Q, K, V), dtype=float)
    assert np.all(np.isfinite(out))
    expected = V[np.argmax(Q @ K.T, axis=1)]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def sample_dot_products(mu, sigma, d, n_samples, rng):
    """n_samples draws of q^T k with q, k ~ N(mu, sigma^2 I_d), in chunks to bound memory."""
    out = []
    for start in range(0, n_samples, 50_000):
        c = min(50_000, n_samples - start)
        q = mu + sigma * rng.standard_normal((c, d))
        k = mu + sigma * rng.standard_normal((c, d))
        out.append(np.einsum("ij,ij->i", q, k))
    return np.concatenate(out)


@pytest.mark.parametrize(
    "mu, sigma, d, seed",
    [
        (0.0, 1.0, 1, 0),  # standard, one dimension
        (0.0, 1.0, 16, 1),  # standard, 16 dimensions
        (1.0, 1.0, 4, 2),  # shifted mean: E = d mu^2 = 4
        (-0.5, 2.0, 8, 3),  # negative mean, wide: E = 8 * 0.25 = 2 (sigma does not enter)
        (2.0, 0.1, 3, 4),  # narrow: E = 3 * 4 = 12
    ],
)
def test_dot_product_mean_monte_carlo(mu, sigma, d, seed):
    rng = np.random.default_rng(seed)
    n = 200_000
    samples = sample_dot_products(mu, sigma, d, n, rng)
    # Var(q_i k_i) = E[q_i^2] E[k_i^2] - mu^4 = (mu^2 + sigma^2)^2 - mu^4; the d terms are independent.
    var = d * ((mu**2 + sigma**2) ** 2 - mu**4)
    se = math.sqrt(var / n)
    expected = float(A.dot_product_mean(mu, sigma, d))
    assert abs(samples.mean() - expected) < 5 * se, (samples.mean(), expected, se)


def test_dot_product_mean_vector_mu():
    # mu given as a vector: E[q^T k] = sum_i mu_i^2 = 1 + 4 + 0 = 5.
    rng = np.random.default_rng(9)
    mu = np.array([1.0, -2.0, 0.0])
    samples = sample_dot_products(mu, 1.0, 3, 200_000, rng)
    var = np.sum((mu**2 + 1) ** 2 - mu**4)
    assert abs(samples.mean() - float(A.dot_product_mean(mu, 1.0, 3))) < 5 * math.sqrt(var / 200_000)


@pytest.mark.parametrize("d, seed", [(1, 0), (4, 1), (16, 2), (64, 3)])  # several head sizes
def test_dot_product_variance_and_scale_monte_carlo(d, seed):
    rng = np.random.default_rng(seed)
    n = 200_000 if d <= 16 else 100_000
    samples = sample_dot_products(0.0, 1.0, d, n, rng)
    # q^T k is a sum of d iid products of standard normals (variance 1, kurtosis 9), so its
    # kurtosis is 3 + 6/d and the sample variance has relative standard error sqrt((2 + 6/d) / n).
    rel_se = math.sqrt((2 + 6 / d) / n)
    var_hat = samples.var()
    expected = float(A.dot_product_variance(d))
    assert abs(var_hat / expected - 1) < 5 * rel_se, (var_hat, expected)
    s = float(A.attention_scale(d))
    scaled = samples / s
    assert abs(scaled.mean()) < 5 * math.sqrt(1 / n)  # mean 0 (variance of the scaled samples is 1)
    assert abs(scaled.var() - 1) < 5 * rel_se, scaled.var()
