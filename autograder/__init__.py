"""The EECS 182 Homework 9 autograder: student code runs in worker processes, verdicts in the parent."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the repository, or Gradescope's /autograder/source
REFERENCE = PROJECT_ROOT / "reference"
