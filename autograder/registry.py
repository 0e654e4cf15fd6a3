"""The case registry: cases declared in the homework's case modules in gradescope-utils' vocabulary, collected here,
never known to the runner.

A case is a builder declared as a gradescope-utils test reads: `@number`, `@weight` (or
`@partial_credit`), `@visibility`, `@tags`, and its docstring's first line as its name, with this
module's `@case(...)` above them for what gradescope-utils lacks (`public`, `twin`, `file`,
`timeout`, `constant_answer`, `optional`); `add_case` declares the same from a table row. It
receives the Submission and a numpy Generator, and returns either (job, check), a job for the
worker and a check of the Outcome it produces, or a Verdict straight away (checks that need no
student code, such as the log's). Random inputs come from that generator only: a public case gets
`rng(number)`, the same on every run (its inputs ship to students); a hidden case gets one drawn
per submission (autograder/secret.py). A public case's `twin` builds the same check on fresh
per-submission inputs: the public case earns its points only if its twin passes too.
`constant_answer` says why a stub (None, 0, zeros, its input) may pass the case. A
`@partial_credit` builder takes `set_score` and calls it (in the builder or in its check) with the
points earned.
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
from gradescope_utils.autograder_utils import decorators as gradescope

from autograder.checks import GRADER_ERROR, WRONG_VALUE, Verdict
from autograder.homework import STUDENT_BUNDLE, homework_module, manifest
from autograder.results import Visibility
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
    tags: tuple[str, ...] = ()  # gradescope-utils' @tags, passed on to results.json

    @property
    def problem(self) -> str:
        return self.number.split(".")[0]

    @property
    def sort_key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.number.split("."))


def call(module: str, function: str, *args: object, **job_options: Any) -> Job:
    """A job calling module.function(*args) in the worker; callables go as {"callable": name}."""
    return Job("call", module, function, tuple(args), **job_options)


def grader_callable(name: str) -> dict[str, str]:
    """An argument naming one of autograder/grader_callables.py's functions."""
    return {"callable": name}


def rng(number: str) -> np.random.Generator:
    """The fixed generator of a public case's inputs, seeded from its number so that they never change."""
    return np.random.default_rng([int(part) for part in number.split(".")])


def arguments(args: tuple | Callable[[np.random.Generator], Iterable], g: np.random.Generator) -> tuple:
    """A case's arguments: literal (a tuple) or drawn from the generator `g` (a function of it)."""
    return tuple(args(g)) if callable(args) else args


_REGISTRY: list[Case] = []
VISIBILITIES = get_args(Visibility)


def case(
    *,
    file: str | None = None,
    public: bool = False,
    timeout: float | None = None,
    twin: bool | Callable | str | None = None,
    constant_answer: str = "",
    optional: bool = False,
) -> Callable[[Callable], Callable]:
    """Register the decorated builder as a test case; returns the builder unchanged.

    It goes above gradescope-utils' decorators, which say the rest: `@number` and `@weight` (or
    `@partial_credit`) are required, `@visibility` and `@tags` optional, and the docstring's first
    line is the case's name. These are the engine's own:
    file: the student file the case needs (missing: the case fails as a missing file, its builder not run).
    public: the case ships to students, and its failures show inputs and expected values.
    timeout: seconds, instead of the 10 s default.
    twin: True for a public case whose builder draws all its inputs from its generator (its twin
    is the same builder with a fresh one), another builder (submission, generator), or the number
    of a hidden case that makes the same check on fresh inputs of the same kind. A hidden
    case whose right answer is a constant may take a twin too: it then counts only when the
    function also answers a case where that constant is wrong.
    constant_answer: why a stub (None, 0, zeros, its input) may pass the case.
    optional: an optional task worth no points (weight 0), reported as not attempted when its file
    or function is left out or still a stub.
    """

    def register(build):
        register_case(
            declared_case(
                build,
                file=file,
                public=public,
                timeout=timeout,
                twin=twin,
                constant_answer=constant_answer,
                optional=optional,
            )
        )
        return build

    return register


def add_case(
    build: Callable,
    number: str,
    name: str,
    weight: float,
    visibility: str = "visible",
    tags: tuple[str, ...] = (),
    **options: Any,
) -> Callable:
    """Register a case built in a loop (several cases from one table): gradescope-utils' decorators applied to
    `build`, `name` as its docstring, then @case(**options). Returns `build`."""
    build.__doc__ = name
    for decorator in (
        gradescope.number(number),
        gradescope.weight(weight),
        gradescope.visibility(visibility),
        gradescope.tags(*tags),
    ):
        build = decorator(build)
    return case(**options)(build)


def declared_case(build: Callable, **options: Any) -> Case:
    """The Case that gradescope-utils' attributes and the docstring of `build` declare, with the engine's `options`."""
    where = f"{build.__module__}.{build.__qualname__}"
    number, weight = getattr(build, "__number__", None), getattr(build, "__weight__", None)
    if number is None or weight is None:
        raise ValueError(f"{where}: a case needs @number and @weight (or @partial_credit), under @case")
    if not all(part.isdigit() for part in str(number).split(".")):
        raise ValueError(f"{where}: the number {number!r} is not dotted integers such as '3.1'")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ValueError(f"{where}: the weight {weight!r} is not a number of points")
    visibility = getattr(build, "__visibility__", "visible")
    if visibility not in VISIBILITIES:
        raise ValueError(f"{where}: the visibility {visibility!r} is none of {', '.join(VISIBILITIES)}")
    tags = tuple(getattr(build, "__tags__", ()))
    if not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"{where}: tags must be strings, got {tags!r}")
    name = (inspect.getdoc(build) or "").strip().split("\n")[0]
    if not name:
        raise ValueError(f"{where}: a case's docstring is its name, and it has none")
    if "set_score" in inspect.signature(build).parameters:
        build = scored_builder(build, where)
    twin = options.pop("twin")
    return Case(
        str(number),
        name,
        float(weight),
        build,
        visibility=visibility,
        tags=tags,
        twin=build if twin is True else twin or None,
        **options,
    )


def scored_builder(build: Callable, where: str) -> Callable:
    """A @partial_credit builder for the engine: the points its set_score was given last (by the builder, for a
    Verdict, or by its check) become the verdict's credit; a passing check given fewer than all points fails, as in
    gradescope-utils. Without a call to set_score, a case scores all or nothing."""
    if not hasattr(build, "__wrapped__"):
        raise ValueError(f"{where}: it takes set_score, which only @partial_credit passes")
    weight = float(build.__weight__)

    def scored(verdict):
        points = build.__dict__.pop("__score__", None)  # where gradescope-utils' set_score puts them
        if points is None or verdict.category == GRADER_ERROR:
            return verdict
        credit = min(max(float(points) / weight, 0.0), 1.0) if weight else 0.0
        category = WRONG_VALUE if verdict.passed and credit < 1 else verdict.category
        return dataclasses.replace(verdict, category=category, credit=credit)

    @functools.wraps(build)
    def plan(submission, g):
        build.__dict__.pop("__score__", None)
        planned = build(submission, g)
        if isinstance(planned, Verdict):
            return scored(planned)
        job, check = planned

        def scored_check(outcome):
            build.__dict__.pop("__score__", None)
            return scored(check(outcome))

        return job, scored_check

    return plan


def register_case(new_case: Case) -> None:
    """Add a case to the registry; two cases may not share a number."""
    if any(existing.number == new_case.number for existing in _REGISTRY):
        raise ValueError(f"two cases numbered {new_case.number}")
    _REGISTRY.append(new_case)


def all_cases() -> list[Case]:
    """Every registered case, in number order (in the students' bundle: the public ones)."""
    if STUDENT_BUNDLE and not _REGISTRY:
        from autograder.frozen import register_frozen_cases

        register_frozen_cases()
    modules = manifest().cases
    for name in modules.bundle if STUDENT_BUNDLE else modules.modules:
        homework_module(name)
    return sorted(_REGISTRY, key=lambda c: c.sort_key)


def public_cases() -> list[Case]:
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
