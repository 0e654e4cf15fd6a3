"""Corpus item stubs_return_zeros: every function returns zeros of the shape the right answer has."""
import numpy as np


def reconstruction_loss(W, X):
    return 0.0


def regularization_loss(W):
    return 0.0


def purification_loss(W, X, lam):
    return 0.0


def optimal_purifier(X, lam):
    return np.zeros((len(X), len(X)))


def purifier_lambda_range(singular_values, k, keep=0.8, attenuate=0.5):
    return np.zeros(2)
