"""Never returns."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import time


def attention_scale(d):
    while True:
        pass


def dot_product_variance(d):
    time.sleep(10**9)
