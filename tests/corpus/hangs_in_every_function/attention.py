"""Every function of attention.py sleeps for an hour."""
import time


def argmax_attention(*args, **kwargs):
    time.sleep(3600)


def softmax(*args, **kwargs):
    time.sleep(3600)


def softmax_attention(*args, **kwargs):
    time.sleep(3600)


def dot_product_mean(*args, **kwargs):
    time.sleep(3600)


def dot_product_variance(*args, **kwargs):
    time.sleep(3600)


def attention_scale(*args, **kwargs):
    time.sleep(3600)
