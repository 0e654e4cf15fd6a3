"""Asks for far more memory than a case has."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np


def dot_product_variance(d):
    block = np.ones(2**30)  # 8 GB of float64
    return float(block.size) * 0 + d
