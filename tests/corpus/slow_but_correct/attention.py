"""Slow but correct."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import time

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    time.sleep(1.5)  # the corpus runs with a 3 s limit per case
    return _scale(d)
