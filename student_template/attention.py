"""Problems 3 (argmax attention) and 4 (scaled dot-product attention): fill in every function."""
import math

import numpy as np


def argmax_attention(q, K, V):
    """Return the value whose key has the largest inner product with the query (problem 3).

    q: (d,) -> returns (m,); or q: (n_q, d) -> returns (n_q, m), one row per query.
    K: (n, d) keys as rows; V: (n, m) values as rows. Ties go to the lowest index.
    """
    raise NotImplementedError("argmax_attention")


def softmax_attention(Q, K, V):
    """Return softmax(Q K^T / sqrt(d)) V with the softmax over each row (eq. (7)).

    Q: (n_q, d) (or a single query (d,)); K: (n, d); V: (n, m) -> (n_q, m) (or (m,)).
    Must stay finite when the scaled scores are near 1e3.
    """
    raise NotImplementedError("softmax_attention")


def dot_product_mean(mu, sigma, d):
    """Return E[q^T k] for independent q, k ~ N(mu, sigma^2 I_d), as a float (problem 4(a)).

    mu is the mean of every component (a scalar) or a length-d vector.
    """
    raise NotImplementedError("dot_product_mean")


def dot_product_variance(d):
    """Return Var(q^T k) for q, k ~ N(0, I_d), as a float (problem 4(b))."""
    raise NotImplementedError("dot_product_variance")


def attention_scale(d):
    """Return the s for which q^T k / s has mean 0 and variance 1 (problem 4(c))."""
    raise NotImplementedError("attention_scale")
