"""Recurses forever."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json


def dot_product_variance(d):
    return dot_product_variance(d + 1)
