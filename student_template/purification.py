"""Problem 1 (self-supervised linear purification): fill in every function below."""
import numpy as np


def reconstruction_loss(W, X):
    """Return ||X - W X||_F^2 (eq. (1)) as a float.

    W: (m, m) encoder. X: (m, n) data, one training point per column.
    """
    raise NotImplementedError("reconstruction_loss")


def regularization_loss(W):
    """Return ||W||_F^2, the weight-decay term of eq. (2), as a float. W: (m, m)."""
    raise NotImplementedError("regularization_loss")


def purification_loss(W, X, lam):
    """Return L_2(W; X, lam) of eq. (2): reconstruction loss + lam * regularization loss."""
    raise NotImplementedError("purification_loss")


def optimal_purifier(X, lam):
    """Return the (m, m) matrix W_hat minimising eq. (2) for lam > 0 (the form of eq. (5)).

    X: (m, n) with any n, including n < m (then X has fewer than m nonzero singular values).
    Hint: np.linalg.svd; each left singular direction is its own ridge problem.
    """
    raise NotImplementedError("optimal_purifier")


def purifier_lambda_range(singular_values, k, keep=0.8, attenuate=0.5):
    """Return (low, high), the closed interval of lam solving part 1(c), or None if it is empty.

    Direction i keeps the fraction sigma_i^2 / (sigma_i^2 + lam) of its strength. Every one of
    the k largest singular values must keep at least `keep`; every other at most `attenuate`.
    singular_values may come in any order; 1 <= k < len(singular_values).
    Example: ({10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01}, k=3) -> (1.0, 4.0).
    """
    raise NotImplementedError("purifier_lambda_range")
