"""Every function and method sleeps for an hour."""
import time

import torch


class PytorchTransformer(torch.nn.Module):
    def __init__(self, input_dim, qk_dim, v_dim, pos_dim=None, max_seq_len=10):
        time.sleep(3600)

    def forward(self, seq):
        time.sleep(3600)


def attention_by_content():
    time.sleep(3600)


def attention_by_position():
    time.sleep(3600)


def attention_unique():
    time.sleep(3600)
