"""Similarity functions and feature maps of the grader's own, passed to student functions by name.

Imported by the worker (to hand them to student code) and by the parent (to compute the
reference's expected values), so a student function is graded on its own, not through the
student's other functions.
"""

import math

import numpy as np


def elu_plus_one(X):
    """A positive feature map, elu(x) + 1, row-wise: (N, D) -> (N, D)."""
    X = np.asarray(X, dtype=np.float64)
    return np.where(X > 0, X + 1.0, np.exp(np.minimum(X, 0.0)))


def quadratic_features(X):
    """A feature map of the quadratic kernel laid out differently from the reference's: (N, D) -> (N, 1 + D + D^2)."""
    X = np.asarray(X, dtype=np.float64)
    outer = np.einsum("ni,nj->nij", X, X).reshape(len(X), -1)
    return np.concatenate([outer, math.sqrt(2.0) * X, np.ones((len(X), 1))], axis=1)


def softmax_sim(q, k):
    """exp(q . k / sqrt(D)) on two 1-D rows."""
    return float(np.exp(np.dot(q, k) / math.sqrt(len(q))))


def quadratic_sim(q, k):
    """(q . k + 1)^2 on two 1-D rows."""
    return float((np.dot(q, k) + 1.0) ** 2)


def asymmetric_sim(q, k):
    """A positive similarity with sim(q, k) != sim(k, q): eq. (11) must call sim(Q_i, K_j), in that order."""
    return float(np.exp(np.dot(q, k) / math.sqrt(len(q)) + 0.5 * np.sum(k)))


GRADER_CALLABLES = {
    "elu_plus_one": elu_plus_one,
    "quadratic_features": quadratic_features,
    "softmax_sim": softmax_sim,
    "quadratic_sim": quadratic_sim,
    "asymmetric_sim": asymmetric_sim,
}
