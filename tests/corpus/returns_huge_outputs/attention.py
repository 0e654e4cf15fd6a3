"""Returns far too much."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np


def dot_product_mean(mu, sigma, d):
    return {f"k{index}": float(index) for index in range(10_000)}


def dot_product_variance(d):
    return {f"k{index}": np.full(2**20, float(index)) for index in range(9)}


def attention_scale(d):
    return np.zeros(20 * 2**17)
