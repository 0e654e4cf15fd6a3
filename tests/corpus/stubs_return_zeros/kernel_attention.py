"""Corpus item stubs_return_zeros: every function returns zeros of the shape the right answer has."""
import numpy as np


def similarity_attention(Q, K, V, sim):
    return np.zeros((len(Q), np.shape(V)[1]))


def softmax_similarity(q, k):
    return 0.0


def quadratic_kernel_similarity(q, k):
    return 0.0


def quadratic_feature_map(X):
    N, D = np.shape(X)
    return np.zeros((N, 1 + D + D * D))


def kernel_attention(Q, K, V, feature_map):
    return np.zeros((len(Q), np.shape(V)[1]))


def random_feature_map(X, W):
    return np.zeros((len(X), 2 * len(W)))


def softmax_random_feature_map(X, W):
    return np.zeros((len(X), 2 * len(W)))


def causal_kernel_attention(Q, K, V, feature_map):
    return np.zeros((len(Q), np.shape(V)[1]))
