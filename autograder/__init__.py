"""The EECS 182 Homework 9 autograder: student code runs in worker processes, verdicts in the parent."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the repository, Gradescope's /autograder/source, or the students' bundle
REFERENCE = PROJECT_ROOT / "reference"
PUBLIC = Path(__file__).resolve().parent / "public"  # the students' bundle only: frozen public cases and the public helpers
STUDENT_BUNDLE = not REFERENCE.is_dir()  # the bundle ships no reference: public cases come frozen from PUBLIC
