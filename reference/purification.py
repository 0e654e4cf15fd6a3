"""Problem 1: self-supervised linear purification, a ridge-regularised linear autoencoder."""
import numpy as np


def reconstruction_loss(W, X):
    """Reconstruction loss ||X - W X||_F^2 of eq. (1).

    W: (m, m) encoder, X: (m, n) data with one point per column.
    """
    residual = X - W @ X  # (m, n)
    return float(np.sum(residual**2))


def regularization_loss(W):
    """Weight-decay term ||W||_F^2 of eq. (2)."""
    return float(np.sum(np.asarray(W) ** 2))


def purification_loss(W, X, lam):
    """Regularised objective L_2(W; X, lam) of eq. (2): reconstruction + lam * regularisation."""
    return reconstruction_loss(W, X) + lam * regularization_loss(W)


def optimal_purifier(X, lam):
    """Minimiser of eq. (2) for lam > 0, in the SVD form of eq. (5).

    With X = U Sigma V^T, the objective splits into m decoupled ridge problems, one per left
    singular direction, and W_hat = U diag(sigma_i^2 / (sigma_i^2 + lam)) U^T.
    X is (m, n) with any n: when n < m (or X is rank-deficient) the missing singular values
    are zero and those directions are filtered out entirely.
    """
    X = np.asarray(X, dtype=np.float64)
    if not lam > 0:
        raise ValueError(f"lam must be positive, got {lam}")
    m = X.shape[0]
    U, sigma, _ = np.linalg.svd(X, full_matrices=True)  # U: (m, m), sigma: (min(m, n),)
    sigma_full = np.zeros(m)
    sigma_full[: sigma.size] = sigma  # (m,): zeros for directions X does not reach
    shrink = sigma_full**2 / (sigma_full**2 + lam)  # (m,)
    return (U * shrink) @ U.T  # (m, m) = U diag(shrink) U^T


def purifier_lambda_range(singular_values, k, keep=0.8, attenuate=0.5):
    """All lam for which W_hat keeps the top-k directions and attenuates the rest (part 1(c)).

    Direction i keeps the fraction sigma_i^2 / (sigma_i^2 + lam) of its strength. Keeping at
    least `keep` means lam <= sigma_i^2 (1 - keep) / keep, which binds at the k-th largest
    sigma; keeping at most `attenuate` means lam >= sigma_j^2 (1 - attenuate) / attenuate,
    which binds at the (k+1)-th largest. Returns the closed interval (low, high), or None
    when it is empty. The singular values may come in any order.
    """
    sigma = np.sort(np.asarray(singular_values, dtype=np.float64).ravel())[::-1]  # descending
    if sigma.size < 2 or np.any(sigma < 0) or not np.all(np.isfinite(sigma)):
        raise ValueError("need at least two finite, non-negative singular values")
    if not 1 <= k < sigma.size:
        raise ValueError(f"k must satisfy 1 <= k < {sigma.size}, got {k}")
    if not (0 < keep <= 1 and 0 < attenuate <= 1):
        raise ValueError("keep and attenuate must lie in (0, 1]")
    high = sigma[k - 1] ** 2 * (1 - keep) / keep  # weakest kept direction
    low = sigma[k] ** 2 * (1 - attenuate) / attenuate  # strongest attenuated direction
    if low > high:
        return None
    return float(low), float(high)
