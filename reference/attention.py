"""Problems 3 and 4: argmax attention, and why dot-product attention is scaled by sqrt(d)."""
import math

import numpy as np


def argmax_attention(q, K, V):
    """Hard attention of problem 3: return the value whose key best matches the query.

    q: (d,) -> (m,), or (n_q, d) -> (n_q, m); K: (n, d); V: (n, m). Similarity is the inner
    product q . k_j; ties go to the lowest index j (np.argmax's rule).
    """
    q, K, V = (np.asarray(a, dtype=np.float64) for a in (q, K, V))
    scores = q @ K.T  # (n,) or (n_q, n)
    best = np.argmax(scores, axis=-1)  # () or (n_q,)
    return V[best]  # (m,) or (n_q, m)


def softmax(scores, axis=-1):
    """Softmax along `axis`, shifted by the maximum so that scores near 1e3 do not overflow."""
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    weights = np.exp(shifted)
    return weights / np.sum(weights, axis=axis, keepdims=True)


def softmax_attention(Q, K, V):
    """Scaled dot-product attention softmax(Q K^T / sqrt(d)) V, eq. (7), softmax over rows.

    Q: (n_q, d) or (d,); K: (n, d); V: (n, m) -> (n_q, m) or (m,).
    """
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    d = K.shape[-1]
    scores = Q @ K.T / math.sqrt(d)  # (n_q, n) or (n,)
    return softmax(scores) @ V


def dot_product_mean(mu, sigma, d):
    """E[q^T k] for independent q, k ~ N(mu, sigma^2 I_d) (problem 4(a)).

    E[q^T k] = sum_i E[q_i] E[k_i] = ||mu||^2, which is d mu^2 when every component has mean
    mu; sigma does not enter. `mu` may be a scalar or a length-d vector.
    """
    mu_vec = np.broadcast_to(np.asarray(mu, dtype=np.float64), (int(d),))  # (d,)
    return float(np.sum(mu_vec**2))


def dot_product_variance(d):
    """Var(q^T k) for q, k ~ N(0, I_d) (problem 4(b)): d independent terms q_i k_i of variance 1."""
    return float(d)


def attention_scale(d):
    """The s that makes q^T k / s have mean 0 and variance 1 (problem 4(c)): s = sqrt(d)."""
    return math.sqrt(d)
