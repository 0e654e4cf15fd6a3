"""Returns objects built to fool a comparison."""
import numpy as np
import torch


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(1, dtype=bool) if ufunc in (np.isfinite,) else True


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __repr__(self):
        raise RuntimeError("no repr for you")

    def __del__(self):
        raise RuntimeError("no del either")


class Stateful:
    calls = 0

    def __array__(self, dtype=None, copy=None):
        Stateful.calls += 1
        return np.full(3, float(Stateful.calls))


class Sneaky(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        return result


def argmax_attention(q, K, V):
    return np.zeros(np.shape(V)[1:]).view(LyingArray) if np.ndim(q) == 1 else np.zeros((len(q), np.shape(V)[1])).view(LyingArray)


def softmax_attention(Q, K, V):
    return AlwaysEqual()


def dot_product_mean(mu, sigma, d):
    return Stateful()


def dot_product_variance(d):
    return torch.zeros(()).as_subclass(Sneaky)


def attention_scale(d):
    return AlwaysEqual()
