"""Problem 2 (hand-design transformers): implement PytorchTransformer and the weight functions.

NumpyTransformer is provided and is the model the grader compares against. Tokens are one-hot:
A = [1, 0, 0], B = [0, 1, 0], C = [0, 0, 1]. Weight matrices act on the right (Q = seq @ Qm),
so Km and Qm are (in_dim, qk_dim) and Vm is (in_dim, v_dim), in_dim = token_dim + pos_dim.
"""
import math

import numpy as np
import torch
from torch import nn


class NumpyTransformer:
    """The notebook's numpy attention layer: out = softmax(Q K^T / sqrt(qk_dim)) V.

    Km, Qm: (in_dim, qk_dim); Vm: (in_dim, v_dim); pos: (max_seq_len, pos_dim) or None, where
    in_dim = token_dim + pos_dim. Matrices act on the right: Q = seq @ Qm.
    """

    def __init__(self, Km, Qm, Vm, pos=None):
        self.Km, self.Qm, self.Vm = np.asarray(Km), np.asarray(Qm), np.asarray(Vm)
        self.pos = None if pos is None else np.asarray(pos)
        self.qk_dim = self.Qm.shape[1]

    def intermediates(self, seq):
        """Every array of the forward pass, by name, for plotting and inspection."""
        seq = np.asarray(seq)  # (L, token_dim)
        if self.pos is not None:
            seq = np.concatenate([seq, self.pos[: seq.shape[0]]], axis=1)  # (L, in_dim)
        K = seq @ self.Km  # (L, qk_dim)
        Q = seq @ self.Qm  # (L, qk_dim)
        V = seq @ self.Vm  # (L, v_dim)
        scores = Q @ K.T / math.sqrt(self.qk_dim)  # (L, L): row i holds query i's scores
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        attention = shifted / shifted.sum(axis=1, keepdims=True)  # (L, L), rows sum to 1
        out = attention @ V  # (L, v_dim)
        return {"input": seq, "K": K, "Q": Q, "V": V, "scores": scores, "attention": attention, "out": out}

    def forward(self, seq, verbose=False):
        """Output (L, v_dim) for one sequence (L, token_dim); verbose prints every step."""
        steps = self.intermediates(seq)
        if verbose:
            for name, value in steps.items():
                print(f"{name}:\n{np.round(value, 3)}")
        return steps["out"]


class PytorchTransformer(nn.Module):
    """The NumpyTransformer layer in PyTorch, with learnable weights.

    Attributes: pos = nn.Embedding(max_seq_len, pos_dim), or None when pos_dim is None;
    Km, Qm = nn.Linear(in_dim, qk_dim, bias=False); Vm = nn.Linear(in_dim, v_dim, bias=False),
    where in_dim = input_dim + (pos_dim or 0). Create them in the order pos, Km, Qm, Vm: the
    logged torch_transformer_value depends on the order in which random weights are drawn.
    """

    def __init__(self, input_dim, qk_dim, v_dim, pos_dim=None, max_seq_len=10):
        super().__init__()
        raise NotImplementedError("PytorchTransformer.__init__")

    def forward(self, seq):
        """seq: (L, input_dim) tensor -> (L, v_dim).

        Concatenate pos.weight[:L] to seq when pos exists, then return
        softmax(Q K^T / sqrt(qk_dim)) V with the softmax over each row. No loops over rows.
        """
        raise NotImplementedError("PytorchTransformer.forward")


def attention_by_content():
    """Return {"Km": (3, qk), "Qm": (3, qk), "Vm": (3, 3)} numpy arrays for the identity task.

    For every sequence of 1 to 6 tokens the output must equal the input under
    np.allclose(out, expected, rtol=1e-3), whose default atol is 1e-8.
    """
    raise NotImplementedError("attention_by_content")


def attention_by_position():
    """Return {"Km": (3+p, qk), "Qm": (3+p, qk), "Vm": (3+p, 3), "pos": (4, p)} for copy-first.

    For every sequence of 1 to 4 tokens, every output row must equal the first token.
    """
    raise NotImplementedError("attention_by_position")


def attention_unique():
    """Optional, no points: {"Km", "Qm", "Vm", "pos"} for the unique/repeated task.

    Tokens are 4-dim with CLS = [0, 0, 0, 1] prepended to the sequence; the sign of each
    non-CLS output must be +1 for a token that occurs once and -1 for a repeated one.
    """
    raise NotImplementedError("attention_unique")
