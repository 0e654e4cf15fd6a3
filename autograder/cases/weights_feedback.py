"""Feedback on hand-designed weights that fail: the first failing sequence, its attention matrix, and what went wrong.

Everything runs in the parent on the student's plain matrices with the public NumpyTransformer.
"""
import numpy as np

SPREAD = 0.01  # attention weight on wrong keys that counts as not separated enough


def right_keys(letters, task, query):
    """The keys a query should attend to: those holding its own token (content), the first key (position)."""
    if task == "content":
        return [key for key, letter in enumerate(letters) if letter == letters[query]]
    return [0]


def attention_table(attention, letters):
    """The attention matrix as a markdown table: row = query, column = key, with each position's token."""
    heads = [f"{key} {letter}" for key, letter in enumerate(letters)]
    rows = ["| query \\ key | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for query, weights in enumerate(attention):
        rows.append(f"| {heads[query]} | " + " | ".join(f"{w:.2f}" for w in weights) + " |")
    return "\n".join(rows)


def keys_text(keys, letters):
    return ", ".join(f"{key} ({letters[key]})" for key in keys)


def name_the_pattern(attention, letters, task, expected, produced, rtol):
    """One sentence on the first wrong query: attention spread, on the wrong key, or a wrong value."""
    if not np.all(np.isfinite(produced)):
        return "The output has NaN or infinite entries: some scores overflow; keep the weights' scale moderate."
    wrong_rows = [q for q in range(len(letters)) if not np.allclose(produced[q], expected[q], rtol=rtol)]
    query = wrong_rows[0] if wrong_rows else 0
    row, good = attention[query], right_keys(letters, task, query)
    on_wrong = 1.0 - row[good].sum()
    strongest = int(np.argmax(row))
    name = f"Query {query} ({letters[query]})"
    if strongest not in good:
        return (f"{name} attends mostly to key {strongest} ({letters[strongest]}) but should attend to "
                f"{keys_text(good, letters)}: its scores favour the wrong key; check which rows of Qm and Km meet.")
    if on_wrong > SPREAD:
        spread = [key for key in range(len(letters)) if row[key] > SPREAD]
        return (f"{name} spreads its attention over keys {keys_text(spread, letters)}, {on_wrong:.0%} of it on keys it "
                "should ignore: the scores are not separated enough; scale Km or Qm up.")
    return (f"{name} attends to the right key, but the output row is {np.round(produced[query], 3).tolist()} "
            f"instead of {np.round(expected[query], 3).tolist()}: the values are wrong; check Vm.")


def explain_failure(model, letters, seq, expected, produced, task, rtol):
    """The feedback block for the first failing sequence."""
    steps = model.intermediates(seq)
    return "\n".join([
        f"First failing sequence: [{', '.join(letters)}]",
        f"expected: {np.round(expected, 4).tolist()}",
        f"got:      {np.round(produced, 4).tolist()}",
        "",
        "Attention weights (each query's row sums to 1):",
        "",
        attention_table(steps["attention"], letters),
        "",
        name_the_pattern(steps["attention"], letters, task, expected, np.asarray(produced, dtype=np.float64), rtol),
    ])
