"""Returns things that are not numbers."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json


def dot_product_mean(mu, sigma, d):
    return None


def attention_scale(d):
    return "sqrt(d)"


def argmax_attention(q, K, V):
    return {"value": 1.0}


def softmax_attention(Q, K, V):
    return 0.0
