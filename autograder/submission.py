"""Find a submission's files (top level or one nested folder) and read its log once, as data."""
import os
from functools import cached_property
from pathlib import Path

from autograder.log_file import LOG_NAME, LogKeyError, LogUnreadable, read_log

STUDENT_FILES = ("purification.py", "transformer.py", "attention.py", "kernel_attention.py", LOG_NAME)


class SubmissionNotFound(Exception):
    """The folder does not exist or holds none of the files a submission may contain."""


class NoTransformerClass(Exception):
    """Neither transformer.py nor the log's source text is there to build PytorchTransformer from."""


def locate(folder):
    """Return the folder that holds the student's files: `folder` itself or its one subfolder holding them."""
    root = Path(folder)
    if not root.is_dir():
        raise SubmissionNotFound(f"{root} is not a folder")
    if any((root / name).is_file() for name in STUDENT_FILES):
        return root.resolve()
    nested = [d for d in sorted(root.iterdir()) if d.is_dir() and any((d / n).is_file() for n in STUDENT_FILES)]
    if len(nested) == 1:
        return nested[0].resolve()
    if not nested:
        raise SubmissionNotFound(f"none of {', '.join(STUDENT_FILES)} was found in the submission or in a folder inside it")
    raise SubmissionNotFound(f"student files were found in several folders: {', '.join(d.name for d in nested)}")


class Submission:
    """A located submission folder (or None when nothing was found) and its parsed log."""

    def __init__(self, root, log_cap_bytes=1 << 20):
        self.root = Path(root) if root is not None else None
        self.log_cap_bytes = log_cap_bytes

    def has(self, name):
        return self.root is not None and (self.root / name).is_file() and not (self.root / name).is_symlink()

    @cached_property
    def log(self):
        """(Log, None) when readable, (None, reason) otherwise."""
        if self.root is None or not os.path.lexists(self.root / LOG_NAME):
            return None, f"{LOG_NAME} is missing from the submission"
        try:
            return read_log(self.root / LOG_NAME, self.log_cap_bytes), None
        except LogUnreadable as error:
            return None, f"{LOG_NAME} cannot be used: {error}"

    def transformer_source(self):
        """How to get PytorchTransformer: None to import transformer.py, or the log's {'init', 'forward'} text.

        Raises NoTransformerClass, with the reason, when neither is available.
        """
        if self.has("transformer.py"):
            return None
        log, problem = self.log
        try:
            if log is None:
                raise LogKeyError(problem)
            init, forward = log.get("torch_transformer_init", "torch_transformer_forward")
        except LogKeyError as error:
            raise NoTransformerClass(f"transformer.py is missing, and the class cannot be rebuilt from the log: {error}") from None
        return {"init": init, "forward": forward}
