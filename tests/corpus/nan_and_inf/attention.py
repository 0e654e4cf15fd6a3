"""Poisons its outputs."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np

from _honest_attention import softmax_attention as _softmax


def softmax_attention(Q, K, V):
    out = _softmax(Q, K, V)
    out.flat[0], out.flat[-1] = np.nan, np.inf
    return out
