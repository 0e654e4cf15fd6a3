"""A Gradescope-style autograder engine: student code runs in worker processes, verdicts in the parent.

What it grades is a homework package (autograder/homework.py: homework/ beside this folder, or AUTOGRADER_HOMEWORK).
"""

from pathlib import Path

PROJECT_ROOT = (
    Path(__file__).resolve().parent.parent
)  # the repository, Gradescope's /autograder/source, or the students' bundle
PUBLIC = (
    Path(__file__).resolve().parent / "public"
)  # the students' bundle only: frozen public cases and the public helpers
