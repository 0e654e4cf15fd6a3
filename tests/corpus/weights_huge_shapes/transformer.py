"""Hand-designed weights of huge shapes: refused by their shapes before any arithmetic in the grader."""
from _honest_transformer import *  # noqa: F401,F403  the reference, kept by expected.json

import numpy as np


def attention_by_content():
    wide = np.ones((3, 200_000))  # qk_dim = 200000: each of the 1092 sequences would cost a (L x 200000) product
    return {"Km": wide, "Qm": wide, "Vm": np.eye(3)}


def attention_by_position():
    big = np.ones((2003, 900))  # 14 MB each: read back, then refused by shape
    return {"Km": big, "Qm": big, "Vm": np.ones((2003, 3)), "pos": np.ones((4, 2000))}


def attention_unique():
    big = np.ones((1200, 1200))
    return {"Km": big, "Qm": big, "Vm": np.ones((1200, 1)), "pos": np.ones((7, 1196))}
