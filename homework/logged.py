"""What problem 2 takes from a Homework 9 log: the hand-designed matrices (shapes inferred from lengths) and the class's
source."""

from autograder.log_file import LogKeyError, infer_matrix


def logged_weights(log, task):
    """The hand-designed matrices a log records for 'content' or 'position', shapes inferred from lengths."""
    key = f"attention_by_{task}"
    if task == "content":
        Q, K, V = log.get(f"{key}_Q", f"{key}_K", f"{key}_V")
        weights = {"Qm": infer_matrix(Q, rows=3, name=f"{key}_Q"), "Km": infer_matrix(K, rows=3, name=f"{key}_K")}
        weights["Vm"] = infer_matrix(V, rows=3, cols=3, name=f"{key}_V")
        return weights
    pos, Q, K, V = log.get(f"{key}_pos", f"{key}_Q", f"{key}_K", f"{key}_V")
    pos = infer_matrix(pos, rows=4, name=f"{key}_pos")
    in_dim = 3 + pos.shape[1]
    return {
        "pos": pos,
        "Qm": infer_matrix(Q, rows=in_dim, name=f"{key}_Q"),
        "Km": infer_matrix(K, rows=in_dim, name=f"{key}_K"),
        "Vm": infer_matrix(V, rows=in_dim, cols=3, name=f"{key}_V"),
    }


class NoTransformerClass(Exception):
    """Neither transformer.py nor the log's source text is there to build PytorchTransformer from."""


def transformer_source(submission):
    """How the worker gets PytorchTransformer: None to import transformer.py, or the log's {'init', 'forward'} text.

    Raises NoTransformerClass, with the reason, when neither is available.
    """
    if submission.has("transformer.py"):
        return None
    log, problem = submission.log
    try:
        if log is None:
            raise LogKeyError(problem)
        init, forward = log.get("torch_transformer_init", "torch_transformer_forward")
    except LogKeyError as error:
        raise NoTransformerClass(
            f"transformer.py is missing, and the class cannot be rebuilt from the log: {error}"
        ) from None
    return {"init": init, "forward": forward}


class WithoutTransformerFile:
    """The submission as if transformer.py were left out: problem 2's class and weights then come from the log.

    Everything but `has` is the submission's own (its private copy, its log).
    """

    def __init__(self, submission):
        self._submission = submission

    def has(self, name) -> bool:
        return name != "transformer.py" and self._submission.has(name)

    def __getattr__(self, name):
        return getattr(self._submission, name)
