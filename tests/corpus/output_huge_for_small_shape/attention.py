"""Outputs thousands of times larger than the expected shapes: judged by their shape alone."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np


def softmax_attention(Q, K, V):
    return np.ones((1400, 1400))  # 15 MB, under the case's file limit; the answer is (4, 2)


def argmax_attention(q, K, V):
    return np.ones((1400, 1400))
