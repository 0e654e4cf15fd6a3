"""The catalogue of common wrong answers: what a function returns when it makes a named mistake.

Each entry computes, in the trusted parent and from a visible case's own inputs, the output a
submission with that mistake would return; the case's check keeps them (checks.Expect's
`mistakes`). When a visible case fails and the student's output equals one of them, the
feedback names the mistake. Nothing here runs student code: the
comparison is between plain arrays. Each variant is written from the homework's equations, on
its own, not by editing the reference.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autograder.checks import Expect, FeatureGram

from .grader_callables import GRADER_CALLABLES


@dataclass(frozen=True)
class Mistake:
    """A named wrong answer: `words` finish the sentence "your output equals ..."."""

    name: str
    words: str
    compute: Callable


def softmax_rows(scores, axis=-1):
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def attention(Q, K, V, scale, axis=-1):
    """softmax(Q K^T / scale) V with the softmax over `axis`; a 1-D query stays 1-D."""
    Q = np.asarray(Q, dtype=np.float64)
    out = softmax_rows(np.atleast_2d(Q) @ K.T / scale, axis) @ V
    return out[0] if Q.ndim == 1 else out


def interval_from(strengths, k, keep, attenuate):
    """The lam range of 1(c) when a direction of strength s keeps s / (s + lam) (s not squared)."""
    s = np.sort(np.asarray(strengths, dtype=np.float64))[::-1]
    low, high = np.max(s[k:] * (1 - attenuate) / attenuate), np.min(s[:k] * (1 - keep) / keep)
    return None if low > high else np.array([low, high])


def purifier_with(X, lam, shrink):
    """U diag(shrink(sigma)) U^T over all m left singular directions (missing sigmas are 0)."""
    U, sigma, _ = np.linalg.svd(X, full_matrices=True)
    full = np.zeros(X.shape[0])
    full[: sigma.size] = sigma
    return (U * shrink(full)) @ U.T


def ridge_purifier(X, lam):
    """The minimiser of ||X - W X||_F^2 + lam ||W||_F^2 from its normal equations: W (X X^T + lam I) = X X^T."""
    gram = X @ X.T
    return np.linalg.solve(gram + lam * np.eye(len(X)), gram).T  # (X X^T + lam I) is symmetric


def ridge_loss(W, X, lam):
    return np.sum((X - W @ X) ** 2) + lam * np.sum(W**2)


def points(X):
    """n, the number of points: the columns of the (m, n) X."""
    return np.shape(X)[1]


def weighted_values(Q, K, V, sim, normalise):
    weights = np.array([[sim(q, k) for k in K] for q in Q])  # (N, N)
    return (weights / weights.sum(axis=1, keepdims=True) if normalise else weights) @ V


def features_attention(Q, K, V, phi, mask=None):
    """sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j), over the keys `mask` allows."""
    weights = phi(Q) @ phi(K).T  # (N, N)
    if mask is not None:
        weights = weights * mask
    with np.errstate(all="ignore"):
        return (weights @ V) / weights.sum(axis=1, keepdims=True)


def fourier(X, W, order):
    projections = X @ W.T  # (N, R)
    parts = {"sin": np.sin(projections), "cos": np.cos(projections)}
    return np.concatenate([parts[name] for name in order], axis=1)


CATALOGUE = {
    "reconstruction_loss": [
        Mistake(
            "norm_not_squared",
            "the Frobenius norm ||X - W X||_F, not its square",
            lambda W, X: np.linalg.norm(X - W @ X),
        )
    ],
    "regularization_loss": [
        Mistake("norm_not_squared", "the Frobenius norm ||W||_F, not its square", lambda W: np.linalg.norm(W))
    ],
    "purification_loss": [
        Mistake(
            "no_regularization",
            "the reconstruction loss alone, without the lam ||W||_F^2 term",
            lambda W, X, lam: np.linalg.norm(X - W @ X) ** 2,
        ),
        Mistake(
            "lambda_times_n",
            "the loss with n lam ||W||_F^2 (n = X.shape[1], the number of points): eq. (2) weighs "
            "||W||_F^2 by lam alone",
            lambda W, X, lam: ridge_loss(W, X, points(X) * lam),
        ),
        Mistake(
            "lambda_times_2n",
            "the loss with 2 n lam ||W||_F^2 (n = X.shape[1], the number of points): eq. (2) weighs "
            "||W||_F^2 by lam alone",
            lambda W, X, lam: ridge_loss(W, X, 2 * points(X) * lam),
        ),
    ],
    "optimal_purifier": [
        Mistake(
            "shrink_not_squared",
            "the purifier built with sigma / (sigma + lam) instead of sigma^2 / (sigma^2 + lam)",
            lambda X, lam: purifier_with(X, lam, lambda s: s / (s + lam)),
        ),
        Mistake(
            "shrink_complement",
            "the purifier built with lam / (sigma^2 + lam), the part eq. (5) removes",
            lambda X, lam: purifier_with(X, lam, lambda s: lam / (s**2 + lam)),
        ),
        Mistake(
            "lambda_times_n",
            "the purifier for n lam instead of lam (n = X.shape[1], the number of points), as if the "
            "reconstruction loss were averaged over the points: eq. (2) sums it",
            lambda X, lam: ridge_purifier(X, points(X) * lam),
        ),
        Mistake(
            "lambda_times_2n",
            "the purifier for 2 n lam instead of lam (n = X.shape[1], the number of points), as if the "
            "reconstruction loss had 1/(2n) in front: eq. (2) has no such factor",
            lambda X, lam: ridge_purifier(X, 2 * points(X) * lam),
        ),
    ],
    "purifier_lambda_range": [
        Mistake(
            "sigma_not_squared",
            "the range for sigma / (sigma + lam), with the singular values not squared",
            lambda s, k, keep=0.8, attenuate=0.5: interval_from(s, k, keep, attenuate),
        )
    ],
    "argmax_attention": [
        Mistake(
            "returns_key",
            "the best-matching key instead of its value",
            lambda q, K, V: K[np.argmax(np.atleast_2d(q) @ K.T, axis=1)][0 if np.ndim(q) == 1 else slice(None)],
        ),
        Mistake(
            "argmin",
            "the value of the worst-matching key (argmin instead of argmax)",
            lambda q, K, V: V[np.argmin(np.atleast_2d(q) @ K.T, axis=1)][0 if np.ndim(q) == 1 else slice(None)],
        ),
    ],
    "softmax_attention": [
        Mistake("no_scaling", "attention without the 1/sqrt(d_k) scaling", lambda Q, K, V: attention(Q, K, V, 1.0)),
        Mistake(
            "scaled_by_d",
            "attention with the scores divided by d_k instead of sqrt(d_k)",
            lambda Q, K, V: attention(Q, K, V, K.shape[1]),
        ),
        Mistake(
            "softmax_over_queries",
            "attention with the softmax taken over the queries (axis 0) instead of the keys",
            lambda Q, K, V: attention(Q, K, V, math.sqrt(K.shape[1]), axis=0) if np.ndim(Q) == 2 else None,
        ),
    ],
    "dot_product_mean": [
        Mistake("mu_not_squared", "d mu, with mu not squared", lambda mu, sigma, d: d * mu),
        Mistake(
            "not_summed", "mu^2, the mean of one coordinate's product, not summed over d", lambda mu, sigma, d: mu**2
        ),
    ],
    "dot_product_variance": [
        Mistake("standard_deviation", "sqrt(d), the standard deviation instead of the variance", lambda d: math.sqrt(d))
    ],
    "attention_scale": [
        Mistake(
            "inverse",
            "1/sqrt(d), the factor the scores are multiplied by, instead of the sqrt(d) they are divided by",
            lambda d: 1 / math.sqrt(d),
        ),
        Mistake("variance", "d, the variance, instead of its square root", lambda d: float(d)),
    ],
    "softmax_similarity": [
        Mistake("no_scaling", "exp(q . k) without the 1/sqrt(D) scaling", lambda q, k: math.exp(q @ k))
    ],
    "quadratic_kernel_similarity": [
        Mistake("not_squared", "q . k + 1, not squared", lambda q, k: q @ k + 1),
        Mistake("no_constant", "(q . k)^2, without the + 1", lambda q, k: (q @ k) ** 2),
    ],
    "similarity_attention": [
        Mistake(
            "not_normalised",
            "the similarity-weighted sum of the values, not divided by the sum of the similarities",
            lambda Q, K, V, sim: weighted_values(Q, K, V, sim, normalise=False),
        )
    ],
    "kernel_attention": [
        Mistake(
            "not_normalised",
            "phi(Q) (phi(K)^T V) without dividing by phi(q_i) . sum_j phi(k_j)",
            lambda Q, K, V, phi: phi(Q) @ (phi(K).T @ V),
        )
    ],
    "causal_kernel_attention": [
        Mistake(
            "excludes_diagonal",
            "causal attention whose sums stop at j < i, leaving out the token itself",
            lambda Q, K, V, phi: features_attention(Q, K, V, phi, np.tril(np.ones((len(Q), len(K))), -1)),
        ),
        Mistake(
            "not_causal",
            "attention over every key: the causal mask is missing",
            lambda Q, K, V, phi: features_attention(Q, K, V, phi),
        ),
    ],
    "random_feature_map": [
        Mistake(
            "cosines_first",
            "the features with the cosines before the sines: their inner products phi(x) . phi(y) are "
            "eq. (14)'s, but the docstring fixes the layout (all R sines, then all R cosines)",
            lambda X, W: fourier(X, W, ("cos", "sin")) / math.sqrt(len(W)),
        ),
        Mistake("no_sqrt_R", "the features without the sqrt(1/R) factor", lambda X, W: fourier(X, W, ("sin", "cos"))),
    ],
    "softmax_random_feature_map": [
        Mistake(
            "no_norm_factor",
            "random_feature_map(X, W) without the exp(|x|^2 / (2 sigma^2)) factor",
            lambda X, W: fourier(X, W, ("sin", "cos")) / math.sqrt(len(W)),
        ),
        Mistake(
            "sigma_one",
            "the features with exp(|x|^2 / 2), that is sigma^2 = 1 instead of sqrt(D)",
            lambda X, W: (
                np.exp(np.sum(X**2, axis=1, keepdims=True) / 2) * fourier(X, W, ("sin", "cos")) / math.sqrt(len(W))
            ),
        ),
    ],
}

# PytorchTransformer's mistakes are computed in cases/problem2.py from the public NumpyTransformer (they ship to
# students). The quadratic feature map is judged by its Gram matrix phi(X) phi(X)^T, so its mistakes are Gram
# matrices too.
GRAM_MISTAKES = [
    Mistake(
        "no_sqrt2",
        "features whose inner products are 1 + q.k + (q.k)^2: the sqrt(2) on the linear terms is missing",
        lambda X: 1 + X @ X.T + (X @ X.T) ** 2,
    ),
    Mistake(
        "no_constant",
        "features whose inner products are 2 q.k + (q.k)^2: the constant feature 1 is missing",
        lambda X: 2 * X @ X.T + (X @ X.T) ** 2,
    ),
]


def resolve(arg):
    """A job argument as the function saw it: a grader callable by name becomes the function."""
    return GRADER_CALLABLES[arg["callable"]] if isinstance(arg, dict) and "callable" in arg else arg


def wrong_answers(mistakes, args, expected):
    """words -> the output each mistake gives on `args`, leaving out those that equal the right answer."""
    answers = {}
    for mistake in mistakes:
        try:
            with np.errstate(all="ignore"):
                value = mistake.compute(*[resolve(arg) for arg in args])
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError):
            continue  # this mistake cannot happen on these inputs
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        if (
            expected is None
            or value.shape != np.shape(expected)
            or not np.allclose(value, expected, rtol=1e-3, atol=1e-6, equal_nan=True)
        ):
            answers[mistake.words] = value
    return answers


def mistakes_for(function, args, expected):
    """The catalogued wrong answers of `function` on a visible case's arguments."""
    return wrong_answers(CATALOGUE.get(function, []), args, expected)


# A visible case of a feature map whose layout is fixed: what to say when the inner products are right but not the
# layout.
LAYOUT_WORDS = {
    "random_feature_map": "features with eq. (14)'s inner products phi(x) . phi(y), but in another column order: the "
    "docstring fixes the layout (all R sines, then all R cosines)",
}


def expect_of(function, args, expected, public, **tolerance):
    """The check that a call returned `expected`; a visible case's also knows the catalogued wrong answers."""
    if not public:
        return Expect(expected, **tolerance)
    return Expect(
        expected,
        mistakes=mistakes_for(function, args, expected),
        layout_words=LAYOUT_WORDS.get(function, ""),
        **tolerance,
    )


def feature_gram_of(function, args, expected, public):
    """The check of a random-feature map by its inner products on the rows of args[0], with exactly as many features.

    A visible case's also knows the Gram matrices of the catalogued mistakes whose inner products are wrong.
    """
    gram = expected @ expected.T
    wrong = {
        words: value @ value.T
        for words, value in (mistakes_for(function, args, expected) if public else {}).items()
        if value.ndim == 2 and len(value) == len(expected)
    }
    wrong = {words: value for words, value in wrong.items() if not np.allclose(value, gram, rtol=1e-3, atol=1e-6)}
    return FeatureGram(args[0], wrong, gram=gram, features=expected.shape[1])


def gram_of(X, public):
    """The check of a quadratic feature map on X; a visible case's also knows the catalogued wrong Gram matrices."""
    return FeatureGram(X, wrong_answers(GRAM_MISTAKES, (X,), (X @ X.T + 1.0) ** 2) if public else {})
