"""Problem 2's hidden cases: PytorchTransformer against NumpyTransformer at sizes the public case does not try."""

from .problem2 import forward_case

FORWARD_TABLE = [
    # number, what it covers, (input_dim, qk_dim, v_dim, pos_dim, max_seq_len), sequence length, public
    ("2.2", "no positions, a single token", (3, 2, 4, None, 10), 1, False),
    ("2.3", "no positions, six tokens", (5, 3, 2, None, 10), 6, False),
    ("2.4", "positions, a single token", (4, 3, 3, 3, 6), 1, False),
    ("2.5", "positions, as long as max_seq_len", (2, 5, 4, 4, 7), 7, False),
    ("2.6", "qk_dim and v_dim of 1", (6, 1, 1, 2, 5), 4, False),
]
for row in FORWARD_TABLE:
    forward_case(*row)
