"""Asks for input."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json


def attention_scale(d):
    return float(input("d? "))
