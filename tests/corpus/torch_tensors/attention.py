"""Returns torch tensors."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import torch

from _honest_attention import softmax_attention as _softmax


def softmax_attention(Q, K, V):
    out = torch.tensor(_softmax(Q, K, V), dtype=torch.float32, requires_grad=True)
    return out.T.contiguous().T  # a non-contiguous view
