"""Mutates what it is given."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os
import random

import numpy as np

from _honest_attention import argmax_attention as _argmax

np.random.seed(1234)
random.seed(1234)
os.chdir("/")


def argmax_attention(q, K, V):
    out = _argmax(q, K, V).copy()
    K[...] = 0.0
    V[...] = -1.0
    np.random.seed(99)
    os.chdir("/")
    return out
