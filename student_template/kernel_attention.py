"""Problems 5 and 6 (kernelized linear attention): fill in every function below.

Shapes: Q and K are (N, D), V is (N, M); a feature map takes an (N, D) array to (N, F),
one feature row per input row. The grader calls similarity_attention, kernel_attention and
causal_kernel_attention with similarity functions and feature maps of its own.
"""
import math

import numpy as np


def similarity_attention(Q, K, V, sim):
    """Return V' (N, M) of eq. (11): V'_i = sum_j sim(Q_i, K_j) V_j / sum_j sim(Q_i, K_j).

    sim(q, k) takes two 1-D rows and returns a number.
    """
    raise NotImplementedError("similarity_attention")


def softmax_similarity(q, k):
    """Return exp(q . k / sqrt(D)) for 1-D q, k of length D."""
    raise NotImplementedError("softmax_similarity")


def quadratic_kernel_similarity(q, k):
    """Return the degree-2 polynomial kernel (q . k + 1)^2 for 1-D q, k (problem 5(b)i)."""
    raise NotImplementedError("quadratic_kernel_similarity")


def quadratic_feature_map(X):
    """Return phi(X) (N, F), one row per row of X (N, D), with phi(q) . phi(k) = (q . k + 1)^2.

    F may be at most 1 + D + D^2 (problem 5(b)ii).
    """
    raise NotImplementedError("quadratic_feature_map")


def kernel_attention(Q, K, V, feature_map):
    """Return V' (N, M) of eq. (12), using associativity: O(N F M) time, never an N x N array.

    feature_map(X) maps (N, D) to (N, F). The grader runs this at sizes where N x N does not fit.
    """
    raise NotImplementedError("kernel_attention")


def random_feature_map(X, W):
    """Return the random Fourier features of eq. (14) for every row of X: (N, D) -> (N, 2R).

    W: (R, D), one random vector w_r per row. Row i is
    sqrt(1/R) [sin(w_1 . x_i), ..., sin(w_R . x_i), cos(w_1 . x_i), ..., cos(w_R . x_i)].
    """
    raise NotImplementedError("random_feature_map")


def softmax_random_feature_map(X, W):
    """Return features (N, 2R) whose inner products estimate exp(q . k / sqrt(D)) (problem 6(a)).

    Use sigma^2 = sqrt(D): scale random_feature_map(x, W) by exp(|x|^2 / (2 sigma^2)).
    The grader draws the rows of W from N(0, I / sigma^2): that variance makes eq. (15) hold
    (the homework's text says sigma^2 I, an erratum).
    """
    raise NotImplementedError("softmax_random_feature_map")


def causal_kernel_attention(Q, K, V, feature_map):
    """Return the causally masked V' (N, M): V'_i = phi(Q_i)^T S_i / phi(Q_i)^T Z_i.

    S_i = sum_{j<=i} phi(K_j) V_j^T and Z_i = sum_{j<=i} phi(K_j) are the prefix sums of
    eq. (16). Must scale linearly in N: never build an N x N array.
    """
    raise NotImplementedError("causal_kernel_attention")
