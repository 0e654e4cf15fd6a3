"""Problem 2: a single-head attention layer in numpy and PyTorch, and hand-designed weights.

The model of the course notebook: one attention head, no bias, residual, normalisation, mask or
batch; positional encodings are concatenated to the tokens, never added. Tokens are one-hot:
A = [1, 0, 0], B = [0, 1, 0], C = [0, 0, 1].
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
    """The same layer in PyTorch, with learnable Km, Qm, Vm and positional embedding `pos`.

    Layers are created in the order pos, Km, Qm, Vm: under a fixed seed that order decides the
    initial weights, and so the logged `torch_transformer_value`.
    """

    def __init__(self, input_dim, qk_dim, v_dim, pos_dim=None, max_seq_len=10):
        super().__init__()
        self.qk_dim = qk_dim
        self.pos = nn.Embedding(max_seq_len, pos_dim) if pos_dim is not None else None
        in_dim = input_dim + (pos_dim or 0)
        self.Km = nn.Linear(in_dim, qk_dim, bias=False)
        self.Qm = nn.Linear(in_dim, qk_dim, bias=False)
        self.Vm = nn.Linear(in_dim, v_dim, bias=False)

    def forward(self, seq):
        """seq: (L, input_dim) -> (L, v_dim)."""
        if self.pos is not None:
            seq = torch.cat([seq, self.pos.weight[: seq.shape[0]]], dim=-1)  # (L, in_dim)
        K = self.Km(seq)  # (L, qk_dim)
        Q = self.Qm(seq)  # (L, qk_dim)
        V = self.Vm(seq)  # (L, v_dim)
        attention = torch.softmax(Q @ K.T / math.sqrt(self.qk_dim), dim=-1)  # (L, L)
        return attention @ V  # (L, v_dim)


def attention_by_content():
    """Weights that copy every token to the output (the identity task, sequences of 1 to 6).

    Query i and key j score (c^2 / sqrt(3)) [token_i == token_j]: each query attends only to
    the keys holding its own token, and every one of those carries the same value, the token.
    c = 10 leaves the other keys a weight near exp(-58), far below the check's atol of 1e-8.
    """
    c = 10.0
    Km = c * np.eye(3)  # (3, qk=3): the key is the token, scaled
    Qm = c * np.eye(3)  # (3, qk=3): the query is the token, scaled
    Vm = np.eye(3)  # (3, 3): the value is the token
    return {"Km": Km, "Qm": Qm, "Vm": Vm}


def attention_by_position():
    """Weights that copy the first token to every output row (sequences of 1 to 4).

    pos is the 4 x 4 identity, so the input row is [token, e_position]. With qk_dim = 1 the key
    is c at position 0 and 0 elsewhere, and every query is 1 (one-hot tokens sum to 1), so
    every row attends to position 0 with weight 1 - O(exp(-c)). The value is the token alone.
    """
    c = 40.0
    pos = np.eye(4)  # (max_len=4, p=4)
    Km = np.zeros((7, 1))  # (3 + p, qk=1)
    Km[3, 0] = c  # position 0's one-hot entry
    Qm = np.zeros((7, 1))
    Qm[:3, 0] = 1.0  # every token gives query 1
    Vm = np.zeros((7, 3))  # (3 + p, 3)
    Vm[:3] = np.eye(3)  # the value is the token; positions carry no value
    return {"Km": Km, "Qm": Qm, "Vm": Vm, "pos": pos}


def attention_unique():
    """Optional task: with CLS = [0, 0, 0, 1] prepended, mark unique tokens +1 and repeats -1.

    Each non-CLS query scores c / 2 on CLS and on every key holding its own token, 0 elsewhere.
    CLS carries value +1 and tokens carry -a, so a token seen n times outputs
    (1 - a n) / (n + 1): positive for n = 1 and negative for n >= 2 whenever 1/2 < a < 1.
    Position plays no part; pos is a zero column kept for the interface.
    """
    c, a = 40.0, 0.75
    pos = np.zeros((UNIQUE_MAX_LEN, 1))  # (max_len, p=1)
    Km = np.zeros((5, 4))  # (4 + p, qk=4): the key is the 4-dim token
    Km[:4] = np.eye(4)
    Qm = np.zeros((5, 4))  # the query of token t is c (e_t + e_CLS)
    Qm[:3, :3] = c * np.eye(3)
    Qm[:4, 3] = c
    Vm = np.zeros((5, 1))  # (4 + p, 1)
    Vm[:3, 0] = -a
    Vm[3, 0] = 1.0
    return {"Km": Km, "Qm": Qm, "Vm": Vm, "pos": pos}


UNIQUE_MAX_LEN = 7  # CLS plus up to 6 tokens
