"""Every function of kernel_attention.py sleeps for an hour."""
import time


def similarity_attention(*args, **kwargs):
    time.sleep(3600)


def softmax_similarity(*args, **kwargs):
    time.sleep(3600)


def quadratic_kernel_similarity(*args, **kwargs):
    time.sleep(3600)


def quadratic_feature_map(*args, **kwargs):
    time.sleep(3600)


def kernel_attention(*args, **kwargs):
    time.sleep(3600)


def kernel_attention_naive(*args, **kwargs):
    time.sleep(3600)


def random_feature_map(*args, **kwargs):
    time.sleep(3600)


def softmax_random_feature_map(*args, **kwargs):
    time.sleep(3600)


def sample_softmax_random_features(*args, **kwargs):
    time.sleep(3600)


def causal_kernel_attention(*args, **kwargs):
    time.sleep(3600)


def causal_kernel_attention_naive(*args, **kwargs):
    time.sleep(3600)
