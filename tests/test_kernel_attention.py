"""Checks reference/kernel_attention.py (problems 5 and 6) against formulas, loops, torch and Monte Carlo."""

import math
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference import kernel_attention as KA


def elu_plus_one(X):
    """The test's own positive feature map (Katharopoulos et al.): elu(x) + 1 > 0, F = D."""
    X = np.asarray(X, dtype=np.float64)
    return np.where(X > 0, X + 1.0, np.exp(np.minimum(X, 0.0)))


def torch_softmax_attention(Q, K, V, causal=False):
    out = F.scaled_dot_product_attention(
        torch.as_tensor(Q, dtype=torch.float64),
        torch.as_tensor(K, dtype=torch.float64),
        torch.as_tensor(V, dtype=torch.float64),
        is_causal=causal,
    )
    return out.numpy()


def loop_similarity_attention(Q, K, V, sim):
    """Eq. (11) with explicit sums."""
    out = np.zeros((Q.shape[0], V.shape[1]))
    for i in range(Q.shape[0]):
        weights = [sim(Q[i], K[j]) for j in range(K.shape[0])]
        out[i] = sum(w * V[j] for j, w in enumerate(weights)) / sum(weights)
    return out


def loop_causal_attention(Q, K, V, feature_map):
    """Causal eq. (11) row by row: V'_i uses only j <= i, sim = phi(Q_i) . phi(K_j)."""
    pq, pk = feature_map(Q), feature_map(K)
    out = np.zeros((Q.shape[0], V.shape[1]))
    for i in range(Q.shape[0]):
        w = pk[: i + 1] @ pq[i]  # (i + 1,)
        out[i] = w @ V[: i + 1] / w.sum()
    return out


def random_qkv(N, D, M, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((N, D)), scale * rng.standard_normal((N, D)), rng.standard_normal((N, M))


# ---------------------------------------------------------------- similarities


@pytest.mark.parametrize(
    "D, seed",
    [(1, 0), (3, 1), (8, 2), (64, 3)],  # several dimensions, including the scalar case
)
def test_similarities_against_formulas(D, seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        q, k = rng.standard_normal(D), rng.standard_normal(D)
        dot = sum(q[i] * k[i] for i in range(D))
        assert float(KA.softmax_similarity(q, k)) == pytest.approx(math.exp(dot / math.sqrt(D)), rel=1e-12)
        assert float(KA.quadratic_kernel_similarity(q, k)) == pytest.approx((dot + 1) ** 2, rel=1e-12, abs=1e-14)


def test_similarities_hand_values():
    # q = (1, 2), k = (3, -1): q.k = 3 - 2 = 1; softmax: exp(1 / sqrt(2)); quadratic: (1 + 1)^2 = 4.
    q, k = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    assert float(KA.softmax_similarity(q, k)) == pytest.approx(math.exp(1 / math.sqrt(2)), rel=1e-12)
    assert float(KA.quadratic_kernel_similarity(q, k)) == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize(
    "N, D, M, seed",
    [
        (1, 1, 1, 0),  # one token: output is V
        (5, 3, 2, 1),  # small
        (7, 8, 4, 2),  # D > N
        (16, 4, 6, 3),  # longer sequence
    ],
)
def test_similarity_attention_softmax_equals_torch(N, D, M, seed):
    Q, K, V = random_qkv(N, D, M, seed)
    out = np.asarray(KA.similarity_attention(Q, K, V, KA.softmax_similarity), dtype=float)
    assert out.shape == (N, M)
    np.testing.assert_allclose(out, torch_softmax_attention(Q, K, V), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N, D, M, seed", [(1, 2, 3, 0), (6, 3, 2, 1), (9, 5, 5, 2)])  # custom sims
def test_similarity_attention_custom_sim(N, D, M, seed):
    Q, K, V = random_qkv(N, D, M, seed)
    # The test's own similarities, not the module's: a Gaussian kernel and a shifted absolute dot product.
    for sim in (lambda q, k: math.exp(-np.sum((q - k) ** 2)), lambda q, k: abs(float(q @ k)) + 0.5):
        out = np.asarray(KA.similarity_attention(Q, K, V, sim), dtype=float)
        np.testing.assert_allclose(out, loop_similarity_attention(Q, K, V, sim), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- quadratic feature map


@pytest.mark.parametrize(
    "N, Nk, D, seed",
    [(1, 1, 1, 0), (4, 6, 2, 1), (5, 3, 3, 2), (8, 8, 7, 3)],  # rows of Q and K may differ in number
)
def test_quadratic_feature_map_kernel_identity(N, Nk, D, seed):
    rng = np.random.default_rng(seed)
    Q, K = rng.standard_normal((N, D)), rng.standard_normal((Nk, D))
    pq, pk = (np.asarray(KA.quadratic_feature_map(X), dtype=float) for X in (Q, K))
    assert pq.shape[0] == N and pk.shape[0] == Nk and pq.shape[1] == pk.shape[1]
    assert pq.shape[1] <= 1 + D + D**2
    np.testing.assert_allclose(pq @ pk.T, (Q @ K.T + 1) ** 2, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- kernel attention


@pytest.mark.parametrize(
    "N, D, M, seed",
    [
        (1, 3, 2, 0),  # a single token
        (2, 1, 1, 1),  # scalar features
        (10, 4, 3, 2),  # small
        (40, 6, 8, 3),  # longer
    ],
)
def test_kernel_attention_quadratic(N, D, M, seed):
    Q, K, V = random_qkv(N, D, M, seed)
    out = np.asarray(KA.kernel_attention(Q, K, V, KA.quadratic_feature_map), dtype=float)
    assert out.shape == (N, M)
    expected = loop_similarity_attention(Q, K, V, lambda q, k: (float(q @ k) + 1) ** 2)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(
        out, KA.similarity_attention(Q, K, V, lambda q, k: (q @ k + 1) ** 2), rtol=1e-9, atol=1e-10
    )
    np.testing.assert_allclose(out, KA.kernel_attention_naive(Q, K, V, KA.quadratic_feature_map), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    "N, D, M, seed",
    [(1, 2, 2, 0), (7, 3, 5, 1), (50, 8, 4, 2)],  # N = 1 and longer sequences
)
def test_kernel_attention_custom_feature_map(N, D, M, seed):
    # The feature map is the test's own, so the check does not depend on the module's other functions.
    Q, K, V = random_qkv(N, D, M, seed)
    out = np.asarray(KA.kernel_attention(Q, K, V, elu_plus_one), dtype=float)
    expected = loop_similarity_attention(Q, K, V, lambda q, k: float(elu_plus_one(q) @ elu_plus_one(k)))
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, KA.kernel_attention_naive(Q, K, V, elu_plus_one), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- causal kernel attention


@pytest.mark.parametrize(
    "N, D, M, seed",
    [
        (1, 3, 2, 0),  # a single token
        (2, 2, 1, 1),  # two tokens
        (17, 4, 3, 2),  # less than one chunk
        (KA.CHUNK, 3, 2, 3),  # exactly one chunk
        (KA.CHUNK + 1, 3, 2, 4),  # one row into the second chunk
        (300, 5, 4, 5),  # several chunks, the last partial
    ],
)
def test_causal_kernel_attention(N, D, M, seed):
    Q, K, V = random_qkv(N, D, M, seed)
    for fmap in (elu_plus_one, KA.quadratic_feature_map):
        out = np.asarray(KA.causal_kernel_attention(Q, K, V, fmap), dtype=float)
        assert out.shape == (N, M)
        np.testing.assert_allclose(out, loop_causal_attention(Q, K, V, fmap), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(out, KA.causal_kernel_attention_naive(Q, K, V, fmap), rtol=1e-9, atol=1e-10)
    # Row 0 attends only to itself: V'_0 = V_0 (positive feature map, so the weight is nonzero).
    np.testing.assert_allclose(KA.causal_kernel_attention(Q, K, V, elu_plus_one)[0], V[0], rtol=1e-12)
    # The last row sees everything: it equals the non-causal kernel attention's last row.
    np.testing.assert_allclose(
        KA.causal_kernel_attention(Q, K, V, elu_plus_one)[-1], KA.kernel_attention(Q, K, V, elu_plus_one)[-1], rtol=1e-9
    )


def test_causal_with_taylor_map_matches_torch_causal_softmax():
    # For D = 1, exp(q k) = sum_n (q k)^n / n! = sum_n (q^n / sqrt(n!)) (k^n / sqrt(n!)), so the Taylor feature
    # map truncated at degree 30 reproduces softmax similarity exp(q k / sqrt(1)) to ~1e-30 relative for
    # |q k| <= 1; causal kernel attention with it must equal torch's causal softmax attention.
    rng = np.random.default_rng(11)
    N = 40
    Q, K, V = rng.uniform(-1, 1, (N, 1)), rng.uniform(-1, 1, (N, 1)), rng.standard_normal((N, 3))
    degrees = np.arange(31)
    norms = np.array([math.sqrt(math.factorial(n)) for n in degrees])

    def taylor(X):
        return X**degrees / norms  # (N, 31)

    out = KA.causal_kernel_attention(Q, K, V, taylor)
    np.testing.assert_allclose(out, torch_softmax_attention(Q, K, V, causal=True), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- linear scaling


def small_positive_map(X):
    """A cheap positive feature map of the test's own: (N, D) -> (N, D)."""
    return 1.0 + X * X


@pytest.mark.parametrize("fn", [KA.kernel_attention, KA.causal_kernel_attention])  # both fast paths
def test_linear_scaling_no_n_by_n(fn):
    # N = 200000: an N x N float64 array would be 200000^2 * 8 bytes = 320 GB.
    rng = np.random.default_rng(0)
    N, D, M = 200_000, 4, 4
    Q, K, V = rng.standard_normal((N, D)), rng.standard_normal((N, D)), rng.standard_normal((N, M))
    tracemalloc.start()
    try:
        out = np.asarray(fn(Q, K, V, small_positive_map))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (N, M)
    assert np.all(np.isfinite(out))
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # spot-check a few rows against explicit sums
    pq, pk = small_positive_map(Q), small_positive_map(K)
    for i in (0, 1, N // 2, N - 1):
        j = slice(None) if fn is KA.kernel_attention else slice(0, i + 1)
        w = pk[j] @ pq[i]
        np.testing.assert_allclose(out[i], w @ V[j] / w.sum(), rtol=1e-8)


# ---------------------------------------------------------------- random features


@pytest.mark.parametrize(
    "N, D, R, seed",
    [(1, 1, 1, 0), (4, 3, 5, 1), (6, 8, 64, 2)],  # R = 1, small, larger
)
def test_random_feature_map_layout(N, D, R, seed):
    rng = np.random.default_rng(seed)
    X, W = rng.standard_normal((N, D)), rng.standard_normal((R, D))
    phi = np.asarray(KA.random_feature_map(X, W), dtype=float)
    assert phi.shape == (N, 2 * R)
    # eq. (14): sqrt(1/R) [sin(w_1.x) .. sin(w_R.x), cos(w_1.x) .. cos(w_R.x)]
    for n in range(N):
        for r in range(R):
            proj = sum(W[r, i] * X[n, i] for i in range(D))
            assert phi[n, r] == pytest.approx(math.sin(proj) / math.sqrt(R), abs=1e-12)
            assert phi[n, R + r] == pytest.approx(math.cos(proj) / math.sqrt(R), abs=1e-12)


@pytest.mark.parametrize("N, Nk, D, R, seed", [(3, 4, 2, 10, 0), (5, 5, 6, 200, 1)])  # two sizes
def test_random_feature_map_cosine_identity(N, Nk, D, R, seed):
    # sin a sin b + cos a cos b = cos(a - b), so phi(q).phi(k) = (1/R) sum_r cos(w_r . (q - k)).
    rng = np.random.default_rng(seed)
    Q, K, W = rng.standard_normal((N, D)), rng.standard_normal((Nk, D)), rng.standard_normal((R, D))
    gram = np.asarray(KA.random_feature_map(Q, W), dtype=float) @ np.asarray(KA.random_feature_map(K, W), dtype=float).T
    expected = np.array([[np.mean(np.cos(W @ (q - k))) for k in K] for q in Q])
    np.testing.assert_allclose(gram, expected, rtol=1e-10, atol=1e-12)


def test_softmax_random_feature_map_scaling():
    # softmax_random_feature_map(x) = exp(|x|^2 / (2 sigma^2)) phi_random(x), sigma^2 = sqrt(D).
    rng = np.random.default_rng(3)
    D, R = 4, 7
    X, W = rng.standard_normal((5, D)), rng.standard_normal((R, D))
    proj = X @ W.T
    expected = (
        np.exp(np.sum(X**2, axis=1, keepdims=True) / (2 * math.sqrt(D)))
        * np.concatenate([np.sin(proj), np.cos(proj)], axis=1)
        / math.sqrt(R)
    )
    np.testing.assert_allclose(KA.softmax_random_feature_map(X, W), expected, rtol=1e-12)


D_RF, N_RF = 4, 5
BOUND = 0.01  # R = 100000 gives ~0.0015 (1/sqrt(R) scaling); R = 100 gives ~0.05; the literal variance ~0.66


def softmax_rf_error(W, seed=123):
    """Mean relative error of the random-feature estimate of exp(Q K^T / sqrt(D)) for small-norm Q, K."""
    rng = np.random.default_rng(seed)
    Q, K = 0.5 * rng.standard_normal((N_RF, D_RF)), 0.5 * rng.standard_normal((N_RF, D_RF))
    est = KA.softmax_random_feature_map(Q, W) @ KA.softmax_random_feature_map(K, W).T
    exact = np.exp(Q @ K.T / math.sqrt(D_RF))
    return float(np.mean(np.abs(est - exact) / exact))


def test_random_features_converge_to_softmax():
    rng = np.random.default_rng(2023)
    err_small = softmax_rf_error(KA.sample_softmax_random_features(100, D_RF, rng))
    err_large = softmax_rf_error(KA.sample_softmax_random_features(100_000, D_RF, rng))
    assert err_large < BOUND, err_large
    assert err_large < err_small, (err_large, err_small)


def test_homework_literal_variance_fails_bound():
    # Erratum (spec section 5): drawing w ~ N(0, sigma^2 I), sigma^2 = sqrt(D), as the homework literally
    # says, gives E[cos(w.(q-k))] = exp(-sigma^2 |q-k|^2 / 2) instead of exp(-|q-k|^2 / (2 sigma^2)):
    # the estimate is biased and the same bound must catch it.
    rng = np.random.default_rng(2023)
    R = 100_000
    W_literal = rng.standard_normal((R, D_RF)) * math.sqrt(math.sqrt(D_RF))
    assert softmax_rf_error(W_literal) > BOUND


def test_sample_softmax_random_features():
    W1 = KA.sample_softmax_random_features(50, 3, np.random.default_rng(42))
    W2 = KA.sample_softmax_random_features(50, 3, np.random.default_rng(42))
    assert np.asarray(W1).shape == (50, 3)
    np.testing.assert_array_equal(W1, W2)  # reproducible from the same seed
    W3 = KA.sample_softmax_random_features(50, 3, np.random.default_rng(43))
    assert not np.array_equal(W1, W3)
    # rows ~ N(0, I / sigma^2) with sigma^2 = sqrt(D): entry variance 1 / sqrt(D) (D = 9 -> 1/3).
    W = KA.sample_softmax_random_features(200_000, 9, np.random.default_rng(0))
    n = W.size
    assert abs(W.var() - 1 / 3) < 5 * (1 / 3) * math.sqrt(2 / n)
    assert abs(W.mean()) < 5 * math.sqrt((1 / 3) / n)
