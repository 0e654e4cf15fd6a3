"""Corpus item stubs_return_zeros: every function returns zeros of the shape the right answer has."""
import numpy as np


def argmax_attention(q, K, V):
    return np.zeros(np.shape(V)[1]) if np.ndim(q) == 1 else np.zeros((len(q), np.shape(V)[1]))


def softmax_attention(Q, K, V):
    return np.zeros(np.shape(V)[1]) if np.ndim(Q) == 1 else np.zeros((len(Q), np.shape(V)[1]))


def dot_product_mean(mu, sigma, d):
    return 0.0


def dot_product_variance(d):
    return 0.0


def attention_scale(d):
    return 0.0
