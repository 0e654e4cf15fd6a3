"""Problem 2's notebook machinery: seeded task sequences, checks, training, plots, the log.

Shared by the reference, the grader and the student notebook (student_template links to this
file), so it never imports a solution: every function takes the transformer module or class
it works on. It imports torch only inside the functions that train or run a PyTorch model, so
the grading process, which only checks numpy arrays, never pays for torch.

The draws reproduce the course notebook's, which use Python's and numpy's global generators;
seed_everything is the only way to make them repeatable.
"""
import inspect
import itertools
import json
import random
import sys
import time

import numpy as np

TOKENS = {"A": np.array([1.0, 0.0, 0.0]), "B": np.array([0.0, 1.0, 0.0]), "C": np.array([0.0, 0.0, 1.0])}
CLS = np.array([0.0, 0.0, 0.0, 1.0])  # the unique task's 4-dim start token

CONTENT_SEED, POSITION_SEED, TORCH_SEED = 1997, 2017, 1998
CONTENT_MAX_LEN, POSITION_MAX_LEN = 6, 4  # longest sequence of each task
TORCH_CHECK_ARGS = (7, 4, 3, 2, 9)  # PytorchTransformer(input_dim, qk_dim, v_dim, pos_dim, max_seq_len)
TORCH_CHECK_INPUT = (8, 7)  # shape of the torch.randn input of the logged run
NOTEBOOK_RTOL = 1e-3  # the notebook's check: np.allclose(out, expected, rtol=1e-3)


def seed_everything(seed):
    """Seed Python's, numpy's and torch's global generators, as the notebook does.

    torch is seeded when it has been imported; a process without torch has nothing to seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def as_numpy(matrix):
    """A student's matrix (numpy array, torch tensor with or without grad, nested list) as float64 numpy; None stays
    None."""
    if matrix is None:
        return None
    if type(matrix).__module__.startswith("torch"):
        matrix = matrix.detach().cpu().numpy()
    return np.array(matrix, dtype=np.float64)


def as_numpy_weights(weights):
    """The dict of a weight function with every matrix converted by as_numpy."""
    return {name: as_numpy(matrix) for name, matrix in weights.items()}


def build_numpy_transformer(weights, numpy_transformer):
    """A NumpyTransformer from a weights dict {"Km", "Qm", "Vm"[, "pos"]} of any array type."""
    weights = as_numpy_weights(weights)
    return numpy_transformer(weights["Km"], weights["Qm"], weights["Vm"], weights.get("pos"))


def encode(letters):
    """['A', 'C'] -> the (L, 3) one-hot array."""
    return np.stack([TOKENS[letter] for letter in letters])


def draw_letters(max_len):
    """A random sequence as the notebook draws it: length from np.random, tokens from random."""
    length = np.random.randint(1, max_len + 1)
    return random.choices(list(TOKENS), k=length)


def content_target(seq):
    """Identity task: the output equals the input. seq: (L, 3) -> (L, 3)."""
    return np.array(seq, dtype=np.float64)


def position_target(seq):
    """Copy-first task: every output row equals the first token. seq: (L, 3) -> (L, 3)."""
    return np.repeat(np.asarray(seq, dtype=np.float64)[:1], len(seq), axis=0)


TASKS = {
    # name: (longest sequence, target function, seed of the logged sequence)
    "content": (CONTENT_MAX_LEN, content_target, CONTENT_SEED),
    "position": (POSITION_MAX_LEN, position_target, POSITION_SEED),
}


def draw_sequence(task):
    """One (input, target) pair of a task from the global generators."""
    max_len, target, _ = TASKS[task]
    seq = encode(draw_letters(max_len))
    return seq, target(seq)


def logged_letters(task):
    """The sequence the log records for a task: the first draw after seeding (C,A,A,C,B,A and A,B,A,B)."""
    seed_everything(TASKS[task][2])
    return draw_letters(TASKS[task][0])


def all_letter_sequences(max_len, alphabet="ABC"):
    """Every sequence of 1 to max_len letters: 1092 for max_len 6, 120 for max_len 4."""
    for length in range(1, max_len + 1):
        yield from (list(letters) for letters in itertools.product(alphabet, repeat=length))


def failing_sequences(weights, task, numpy_transformer):
    """Check hand-designed weights on every sequence of a task; return the failures.

    Each failure is (letters, expected, produced). `numpy_transformer` is the NumpyTransformer
    class to run; weights is the dict returned by attention_by_content / attention_by_position.
    """
    max_len, target, _ = TASKS[task]
    model = build_numpy_transformer(weights, numpy_transformer)
    failures = []
    for letters in all_letter_sequences(max_len):
        seq = encode(letters)
        out, expected = model.forward(seq), target(seq)
        if np.shape(out) != expected.shape or not np.allclose(out, expected, rtol=NOTEBOOK_RTOL):
            failures.append((letters, expected, out))
    return failures


def unique_sequences(max_tokens=6):
    """Every unique-task input: CLS followed by 1 to max_tokens of A, B, C, as 4-dim one-hots."""
    for letters in all_letter_sequences(max_tokens):
        tokens = [np.append(TOKENS[letter], 0.0) for letter in letters]
        yield letters, np.stack([CLS] + tokens)  # (L + 1, 4)


def unique_failures(weights, numpy_transformer, max_tokens=6):
    """Sequences where the sign of a non-CLS output is not +1 for unique and -1 for repeated tokens."""
    model = build_numpy_transformer(weights, numpy_transformer)
    failures = []
    for letters, seq in unique_sequences(max_tokens):
        expected = np.array([1.0 if letters.count(x) == 1 else -1.0 for x in letters])
        signs = np.sign(model.forward(seq)[1:, 0])
        if not np.array_equal(signs, expected):
            failures.append((letters, expected, signs))
    return failures


def train_learned_transformer(pytorch_transformer, task, seed=0, steps=10001, lr=3e-2, qk_dim=3, pos_dim=4):
    """Train a PytorchTransformer on a task, one sequence per SGD step with an MSE loss.

    Returns (model, losses). Content uses no positions; position uses pos_dim positional
    dimensions and max_seq_len equal to the task's longest sequence.
    """
    import torch

    max_len = TASKS[task][0]
    seed_everything(seed)
    if task == "content":
        model = pytorch_transformer(3, qk_dim, 3)
    else:
        model = pytorch_transformer(3, qk_dim, 3, pos_dim, max_len)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    losses = []
    for _ in range(steps):
        seq, target = draw_sequence(task)
        loss = loss_fn(model(torch.FloatTensor(seq)), torch.FloatTensor(target))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def learned_weights(model):
    """A trained PytorchTransformer's matrices in NumpyTransformer's orientation (in_dim on rows)."""
    weights = {name: getattr(model, name).weight.detach().numpy().T.copy() for name in ("Km", "Qm", "Vm")}
    weights["pos"] = None if model.pos is None else model.pos.weight.detach().numpy().copy()
    return weights


def submission_log(transformer):
    """The dict the course notebook logs, computed from a `transformer` module's classes and weights."""
    import torch

    seed_everything(TORCH_SEED)
    model = transformer.PytorchTransformer(*TORCH_CHECK_ARGS)
    out = model(torch.randn(*TORCH_CHECK_INPUT))
    log = {
        "time": time.time(),
        "torch_transformer_shape": list(out.shape),
        # the course's view(-1), without failing on a non-contiguous output
        "torch_transformer_value": out.reshape(-1).tolist()[2:7],
        "torch_transformer_init": inspect.getsource(transformer.PytorchTransformer.__init__),
        "torch_transformer_forward": inspect.getsource(transformer.PytorchTransformer.forward),
    }
    for task, weight_function in (
        ("content", transformer.attention_by_content),
        ("position", transformer.attention_by_position),
    ):
        key = f"attention_by_{task}"
        weights = as_numpy_weights(weight_function())
        seq = encode(logged_letters(task))
        log[key] = build_numpy_transformer(weights, transformer.NumpyTransformer).forward(seq).flatten().tolist()
        if weights.get("pos") is not None:
            log[f"{key}_pos"] = weights["pos"].flatten().tolist()
        for name in ("Q", "K", "V"):
            log[f"{key}_{name}"] = weights[f"{name}m"].flatten().tolist()
    return log


def write_submission_log(transformer, path="submission_log.json"):
    """Write submission_log.json from a `transformer` module, as the notebook's last cell does."""
    log = submission_log(transformer)
    with open(path, "w") as f:
        json.dump(log, f)
    return log


def plot_side_by_side(hand, learned, letters, numpy_transformer, title=""):
    """Figure comparing hand-designed and learned weights on one sequence.

    Columns: Km, Qm, Vm, the sequence's K, Q, V, the attention matrix and the output; the
    first row is the hand-designed model, the second the learned one.
    """
    import matplotlib.pyplot as plt  # only the notebook draws

    seq = encode(letters)
    panels = [
        ("Km", None),
        ("Qm", None),
        ("Vm", None),
        ("K", "K"),
        ("Q", "Q"),
        ("V", "V"),
        ("attention", "attention"),
        ("out", "out"),
    ]
    fig, axes = plt.subplots(2, len(panels), figsize=(2.2 * len(panels), 5.2))
    for row, (label, weights) in enumerate((("hand-designed", hand), ("learned", learned))):
        steps = build_numpy_transformer(weights, numpy_transformer).intermediates(seq)
        for col, (name, step) in enumerate(panels):
            matrix = as_numpy(weights[name]) if step is None else steps[step]
            ax = axes[row, col]
            ax.imshow(matrix, cmap="coolwarm", vmin=-np.abs(matrix).max() - 1e-9, vmax=np.abs(matrix).max() + 1e-9)
            ax.set_title(f"{label}\n{name} {matrix.shape}" if col == 0 else f"\n{name} {matrix.shape}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{title} on {''.join(letters)}")
    fig.tight_layout()
    return fig
