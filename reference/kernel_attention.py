"""Problems 5 and 6: kernelised linear attention, random Fourier features, causal prefix sums.

Shapes follow the homework: Q, K are (N, D), V is (N, M), a feature map takes (N, D) to (N, F).
Each fast path has a naive twin (suffix `_naive`) that builds the N x N similarity matrix; the
twins exist only as test oracles.
"""
import math

import numpy as np

CHUNK = 128  # rows per block in the causal prefix sum: memory O(CHUNK^2 + F M), not O(N^2)


def similarity_attention(Q, K, V, sim):
    """Generalised attention of eq. (11): V'_i = sum_j sim(Q_i, K_j) V_j / sum_j sim(Q_i, K_j).

    `sim` takes two 1-D rows and returns a number; it is called N^2 times (O(N^2) by design).
    """
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    N = Q.shape[0]
    A = np.array([[float(sim(Q[i], K[j])) for j in range(K.shape[0])] for i in range(N)])  # (N, N)
    A = A.reshape(N, K.shape[0])
    return (A @ V) / A.sum(axis=1, keepdims=True)  # (N, M)


def softmax_similarity(q, k):
    """sim_softmax(q, k) = exp(q . k / sqrt(D)), which turns eq. (11) into eq. (13)."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    return float(np.exp(q @ k / math.sqrt(q.shape[-1])))


def quadratic_kernel_similarity(q, k):
    """Polynomial kernel of degree 2 with unit constants (problem 5(b)i): (q . k + 1)^2."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    return float((q @ k + 1.0) ** 2)


def quadratic_feature_map(X):
    """Feature map of the quadratic kernel (problem 5(b)ii), applied to each row.

    phi(x) = [1, sqrt(2) x, vec(x x^T)], so phi(q) . phi(k) = 1 + 2 q.k + (q.k)^2 = (q.k + 1)^2.
    X: (N, D) -> (N, 1 + D + D^2).
    """
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    ones = np.ones((N, 1))  # (N, 1)
    outer = (X[:, :, None] * X[:, None, :]).reshape(N, D * D)  # (N, D^2)
    return np.concatenate([ones, math.sqrt(2.0) * X, outer], axis=1)


def kernel_attention(Q, K, V, feature_map):
    """Linear kernel attention of eq. (12), by associativity: O(N F M) time, no N x N array.

    V'_i = phi(Q_i)^T S / phi(Q_i)^T Z with S = sum_j phi(K_j) V_j^T (F, M), Z = sum_j phi(K_j) (F,).
    """
    V = np.asarray(V, dtype=np.float64)
    phi_Q = np.asarray(feature_map(Q), dtype=np.float64)  # (N, F)
    phi_K = np.asarray(feature_map(K), dtype=np.float64)  # (N, F)
    S = phi_K.T @ V  # (F, M)
    Z = phi_K.sum(axis=0)  # (F,)
    return (phi_Q @ S) / (phi_Q @ Z)[:, None]  # (N, M)


def kernel_attention_naive(Q, K, V, feature_map):
    """Oracle for kernel_attention: eq. (11) with sim(Q_i, K_j) = phi(Q_i) . phi(K_j), in O(N^2)."""
    A = np.asarray(feature_map(Q), dtype=np.float64) @ np.asarray(feature_map(K), dtype=np.float64).T
    return (A @ np.asarray(V, dtype=np.float64)) / A.sum(axis=1, keepdims=True)  # (N, M)


def random_feature_map(X, W):
    """Random Fourier features of eq. (14), one row per row of X.

    phi(x) = sqrt(1/R) [sin(w_1 . x), ..., sin(w_R . x), cos(w_1 . x), ..., cos(w_R . x)].
    X: (N, D), W: (R, D) with the w_r as rows -> (N, 2R), all sines before all cosines.
    """
    X, W = np.asarray(X, dtype=np.float64), np.asarray(W, dtype=np.float64)
    R = W.shape[0]
    projections = X @ W.T  # (N, R)
    return math.sqrt(1.0 / R) * np.concatenate([np.sin(projections), np.cos(projections)], axis=1)


def softmax_random_feature_map(X, W):
    """Random features whose inner products estimate the softmax similarity (problem 6(a)).

    With sigma^2 = sqrt(D), exp(q.k / sigma^2) = exp(|q|^2 / 2 sigma^2) exp(|k|^2 / 2 sigma^2)
    K_Gauss(q, k), and K_Gauss is estimated by random_feature_map. So the feature of x is
    exp(|x|^2 / (2 sigma^2)) phi_random(x). X: (N, D), W: (R, D) -> (N, 2R).

    Erratum: eq. (15) holds when the rows of W are drawn from N(0, I / sigma^2), not from
    N(0, sigma^2 I) as the homework says: E[cos(w . (q - k))] = exp(-s^2 |q - k|^2 / 2) for
    w ~ N(0, s^2 I), and this equals exp(-|q - k|^2 / (2 sigma^2)) only when s^2 = 1 / sigma^2.
    Use sample_softmax_random_features to draw W correctly.
    """
    X = np.asarray(X, dtype=np.float64)
    sigma2 = math.sqrt(X.shape[1])
    scale = np.exp(np.sum(X**2, axis=1, keepdims=True) / (2.0 * sigma2))  # (N, 1)
    return scale * random_feature_map(X, W)


def sample_softmax_random_features(R, D, rng):
    """Draw W (R, D) with rows w_r ~ N(0, I / sigma^2), sigma^2 = sqrt(D), from a numpy Generator."""
    sigma2 = math.sqrt(D)
    return rng.standard_normal((R, D)) / math.sqrt(sigma2)


def causal_kernel_attention(Q, K, V, feature_map):
    """Causally masked kernel attention with the prefix sums of eq. (16), linear in N.

    V'_i = phi(Q_i)^T S_i / phi(Q_i)^T Z_i, S_i = sum_{j<=i} phi(K_j) V_j^T, Z_i = sum_{j<=i} phi(K_j).
    Rows are processed in blocks of CHUNK: S and Z carry everything before the block, and a
    small lower-triangular CHUNK x CHUNK product handles the pairs inside it.
    """
    V = np.asarray(V, dtype=np.float64)
    phi_Q = np.asarray(feature_map(Q), dtype=np.float64)  # (N, F)
    phi_K = np.asarray(feature_map(K), dtype=np.float64)  # (N, F)
    N, F = phi_Q.shape
    S = np.zeros((F, V.shape[1]))  # (F, M): S_i before the block
    Z = np.zeros(F)  # (F,): Z_i before the block
    out = np.empty((N, V.shape[1]))  # (N, M)
    for start in range(0, N, CHUNK):
        rows = slice(start, min(start + CHUNK, N))
        q, k, v = phi_Q[rows], phi_K[rows], V[rows]  # (c, F), (c, F), (c, M)
        inside = np.tril(q @ k.T)  # (c, c): pairs j <= i within the block
        numerator = q @ S + inside @ v  # (c, M)
        denominator = q @ Z + inside.sum(axis=1)  # (c,)
        out[rows] = numerator / denominator[:, None]
        S += k.T @ v
        Z += k.sum(axis=0)
    return out


def causal_kernel_attention_naive(Q, K, V, feature_map):
    """Oracle for causal_kernel_attention: the full N x N kernel matrix with j > i masked out."""
    A = np.asarray(feature_map(Q), dtype=np.float64) @ np.asarray(feature_map(K), dtype=np.float64).T
    A = np.tril(A)  # (N, N): position i sees only j <= i
    return (A @ np.asarray(V, dtype=np.float64)) / A.sum(axis=1, keepdims=True)
