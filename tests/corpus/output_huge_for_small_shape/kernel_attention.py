"""A feature map with far more features than 1 + D + D^2: refused before phi(X) phi(X)^T is formed."""
from _honest_kernel_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np


def quadratic_feature_map(X):
    return np.ones((len(X), 400_000 // len(X) * 4))
