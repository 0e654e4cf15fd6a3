"""Feedback on hand-designed weights that fail: the first failing sequence, its attention matrix, and what went wrong.

Everything runs in the parent on the student's plain matrices with the public NumpyTransformer.
"""

import inspect

import numpy as np

from autograder.results import fence

# The notebook checks np.allclose(out, expected, rtol=...) with allclose's default atol: an output entry that should
# be 0 may be off by atol alone. Values are one-hot tokens, so attention leaking onto keys the query should ignore
# shows in the output almost one to one: a leak above atol fails the check. Read from numpy, so that it is the
# check's own.
LEAK_LIMIT = inspect.signature(np.allclose).parameters["atol"].default


def number(value):
    """A weight or an output entry with enough digits to show a leak: 1e-07 stays 1e-07, 0.9999996 stays visible."""
    return f"{value:.7g}"


def numbers(array):
    """Rows of numbers as text, every entry with `number`'s digits."""
    return np.array2string(
        np.asarray(array, dtype=np.float64),
        separator=", ",
        threshold=10_000,
        max_line_width=110,
        formatter={"float_kind": number},
    )


def right_keys(letters, task, query):
    """The keys a query should attend to: those holding its own token (content), the first key (position)."""
    if task == "content":
        return [key for key, letter in enumerate(letters) if letter == letters[query]]
    return [0]


def attention_table(attention, letters):
    """The attention matrix as aligned text for a code block: row = query, column = key, with each position's token."""
    heads = [f"{key} {letter}" for key, letter in enumerate(letters)]
    cells = [["query \\ key", *heads]] + [
        [heads[query], *(number(w) for w in weights)] for query, weights in enumerate(attention)
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def keys_text(keys, letters):
    return ", ".join(f"{key} ({letters[key]})" for key in keys)


def name_the_pattern(attention, letters, task, expected, produced, rtol):
    """One sentence on the first wrong query: attention on the wrong key, leaking onto keys to ignore, or a wrong
    value."""
    if not np.all(np.isfinite(produced)):
        return "The output has NaN or infinite entries: some scores overflow; keep the weights' scale moderate."
    wrong_rows = [q for q in range(len(letters)) if not np.allclose(produced[q], expected[q], rtol=rtol)]
    query = wrong_rows[0] if wrong_rows else 0
    row, good = attention[query], right_keys(letters, task, query)
    on_wrong = float(np.delete(row, good).sum())
    strongest = int(np.argmax(row))
    name = f"Query {query} ({letters[query]})"
    if strongest not in good:
        return (
            f"{name} attends mostly to key {strongest} ({letters[strongest]}) but should attend to "
            f"{keys_text(good, letters)}: its scores favour the wrong key; check which rows of Qm and Km meet."
        )
    if on_wrong > LEAK_LIMIT:
        leaking = [key for key in range(len(letters)) if key not in good and row[key] > 0]
        return (
            f"{name} attends mostly to the right key, but {on_wrong:.2g} of its attention leaks onto keys "
            f"{keys_text(leaking, letters)}, which it should ignore. The notebook's check allows an output entry "
            f"that should be 0 to be off by {LEAK_LIMIT:g} at most (np.allclose's atol), so the leak must stay "
            "below that: the scores are not separated enough; scale Km or Qm up."
        )
    return (
        f"{name} attends to the right key (leak {on_wrong:.2g}, under {LEAK_LIMIT:g}), but the output row is "
        f"{numbers(produced[query])} instead of {numbers(expected[query])}: the values are wrong; check Vm."
    )


def explain_failure(model, letters, seq, expected, produced, task, rtol):
    """The feedback block for the first failing sequence."""
    steps = model.intermediates(seq)
    return "\n".join(
        [
            f"First failing sequence: [{', '.join(letters)}]",
            "",
            "expected:",
            fence(numbers(expected)),
            "got:",
            fence(numbers(produced)),
            "",
            "Attention weights (each query's row sums to 1):",
            "",
            fence(attention_table(steps["attention"], letters)),
            "",
            name_the_pattern(steps["attention"], letters, task, expected, np.asarray(produced, dtype=np.float64), rtol),
        ]
    )
