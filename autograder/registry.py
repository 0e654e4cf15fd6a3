"""The case registry: cases declared with @case in the homework's case modules, collected here, never known to the runner.

A case builder receives the Submission and a numpy Generator, and returns either (job, check), a
job for the worker and a check of the Outcome it produces, or a Verdict straight away (checks
that need no student code, such as the log's). Random inputs come from that generator only: a
public case gets `rng(number)`, the same on every run (its inputs ship to students); a hidden
case gets one drawn per submission (autograder/secret.py). A public case's `twin` builds the
same check on fresh per-submission inputs: the public case earns its points only if its twin
passes too. `constant_answer` says why a stub (None, 0, zeros, its input) may pass the case.
`weight`, `number` and `visibility` follow gradescope-utils' vocabulary; `public` marks the cases
that ship to students and whose failures show inputs and expected values.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from autograder.homework import STUDENT_BUNDLE, homework_module, manifest
from autograder.sandbox import Job


@dataclass
class Case:
    """One graded test. `file` is the student file it needs (None: the builder decides)."""

    number: str
    name: str
    weight: float
    build: Callable
    file: str | None = None
    public: bool = False
    visibility: str = "visible"
    timeout: float | None = None
    twin: Callable | str | None = None  # a builder (submission, generator) of the same check on fresh inputs, or
    # the number of a hidden case that already is that check on fresh inputs (it costs no extra run)
    constant_answer: str = ""  # why the right answer is a constant (or the input) that a stub may return
    optional: bool = False  # an optional task worth no points: left out, it is "not attempted", not failed

    @property
    def problem(self):
        return self.number.split(".")[0]

    @property
    def sort_key(self):
        return tuple(int(part) for part in self.number.split("."))


def call(module, function, *args, **job_options):
    """A job calling module.function(*args) in the worker; callables go as {"callable": name}."""
    return Job("call", module, function, tuple(args), **job_options)


def grader_callable(name):
    """An argument naming one of autograder/grader_callables.py's functions."""
    return {"callable": name}


def rng(number):
    """The fixed generator of a public case's inputs, seeded from its number so that they never change."""
    return np.random.default_rng([int(part) for part in number.split(".")])


def arguments(args, g):
    """A case's arguments: literal (a tuple) or drawn from the generator `g` (a function of it)."""
    return tuple(args(g)) if callable(args) else args


_REGISTRY: list[Case] = []


def case(number, name, weight, file=None, public=False, visibility="visible", timeout=None, twin=None,
         constant_answer="", optional=False):
    """Register the decorated builder as a test case; returns the builder unchanged.

    twin: True for a public case whose builder draws all its inputs from its generator (its twin
    is the same builder with a fresh one), another builder (submission, generator), or the number
    of a hidden case that makes the same check on fresh inputs of the same kind. A hidden
    case whose right answer is a constant may take a twin too: it then counts only when the
    function also answers a case where that constant is wrong. optional: an optional task worth
    no points (weight 0), reported as not attempted when its file or function is left out or still a stub.
    """
    def register(build):
        add_case(Case(number, name, weight, build, file, public, visibility, timeout,
                      build if twin is True else twin or None, constant_answer, optional))
        return build
    return register


def add_case(new_case):
    """Register a case built in a loop (several cases from one table)."""
    if any(existing.number == new_case.number for existing in _REGISTRY):
        raise ValueError(f"two cases numbered {new_case.number}")
    _REGISTRY.append(new_case)


def all_cases():
    """Every registered case, in number order (in the students' bundle: the public ones)."""
    if STUDENT_BUNDLE and not _REGISTRY:
        from autograder.frozen import register_frozen_cases

        register_frozen_cases()
    modules = manifest().cases
    for name in modules.bundle if STUDENT_BUNDLE else modules.modules:
        homework_module(name)
    return sorted(_REGISTRY, key=lambda c: c.sort_key)


def public_cases():
    return [c for c in all_cases() if c.public]


def problem_titles() -> dict[str, str]:
    """Problem number -> title, in the manifest's order."""
    return manifest().titles


def problem_points() -> dict[str, float]:
    """Problem number -> its points: the sum of its cases' weights (in the students' bundle, its public cases')."""
    points = dict.fromkeys(manifest().titles, 0.0)
    for graded in all_cases():
        if graded.problem in points:
            points[graded.problem] += graded.weight
    return points
