"""Find a submission's files: at the top level of its folder or inside one nested folder."""
from pathlib import Path

STUDENT_FILES = ("purification.py", "transformer.py", "attention.py", "kernel_attention.py", "submission_log.json")


class SubmissionNotFound(Exception):
    """The folder does not exist or holds none of the files a submission may contain."""


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
        raise SubmissionNotFound(f"none of {', '.join(STUDENT_FILES)} found in {root} or a folder inside it")
    raise SubmissionNotFound(f"student files found in several folders of {root}: {', '.join(d.name for d in nested)}")
