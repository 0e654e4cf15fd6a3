"""Verdicts and comparisons, computed in the trusted parent on plain float64 arrays.

Every message says what was checked, what was expected and what was given; shape first, then
values, with the largest deviation and where it is. Messages are only shown for public cases.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.results import fence

RTOL, ATOL = 1e-4, 1e-6  # loose enough for a correct float32 implementation

# Categories, the only thing a hidden case reveals about a failure.
PASSED, WRONG_VALUE, WRONG_SHAPE, EXCEPTION, TIMEOUT, MEMORY, CRASH, UNSUPPORTED, MISSING, INVALID_LOG, GRADER_ERROR = (
    "passed",
    "wrong value",
    "wrong shape",
    "exception",
    "timeout",
    "memory limit",
    "crash",
    "unsupported return type",
    "missing file",
    "invalid submission_log.json",
    "grader error",
)
NOT_RUN = "not run"  # the grading time budget ran out before the case's turn
NOT_ATTEMPTED = "not attempted"  # an optional task the student left out: neither passed nor failed


@dataclass
class Verdict:
    """The judgement on one case: a category, a message for visible feedback, and the credit earned (0 to 1)."""

    category: str
    message: str
    credit: float = 0.0
    diagnosis: str = ""  # the catalogued mistake the output equals (the homework's mistakes module), visible cases only
    details: str = ""  # a grader error's traceback or reason, for course staff only (never shown to the student)

    @property
    def passed(self) -> bool:
        return self.category == PASSED


def ok(message: str = "correct") -> Verdict:
    return Verdict(PASSED, message, 1.0)


def fail(category: str, message: str) -> Verdict:
    return Verdict(category, message, 0.0)


def show(array: object, precision: int = 5) -> str:
    """A short, readable rendering of an array or number."""
    return np.array2string(
        np.asarray(array, dtype=np.float64),
        precision=precision,
        threshold=20,
        edgeitems=3,
        suppress_small=True,
        separator=", ",
    )


def shown(label: str, array: object) -> str:
    """`label:` and the array in a fenced code block, so that Markdown keeps its rows apart."""
    return f"{label}:\n{fence(show(array))}"


def compare_arrays(
    got: np.ndarray | None,
    expected: object,
    kind: str = "",
    rtol: float = RTOL,
    atol: float = ATOL,
    what: str = "output",
) -> Verdict:
    """Shape, then finiteness, then values within rtol/atol; `kind` names the type the student returned."""
    expected = np.asarray(expected, dtype=np.float64)
    given = f" ({kind})" if kind else ""
    if got is None:
        return fail(WRONG_VALUE, f"expected {what} of shape {expected.shape}, got None\n{shown('expected', expected)}")
    if got.shape != expected.shape:
        return fail(
            WRONG_SHAPE,
            f"expected {what} of shape {expected.shape}, got shape {got.shape}{given}\n"
            f"{shown('expected', expected)}\n{shown('got' + given, got)}",
        )
    if not np.all(np.isfinite(got)):
        bad = np.argwhere(~np.isfinite(got))[0]
        return fail(
            WRONG_VALUE,
            f"{what} has NaN or infinite entries (first at index {tuple(int(i) for i in bad)}):\n{fence(show(got))}",
        )
    deviation = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    if np.any(deviation > 0):
        worst = np.unravel_index(int(np.argmax(deviation)), got.shape) if got.ndim else ()
        where = f" at index {tuple(int(i) for i in worst)}" if got.ndim else ""
        return fail(
            WRONG_VALUE,
            f"{what} differs from the expected value{where}: "
            f"expected {got.dtype.type(expected[worst]):.6g}, got {got[worst]:.6g}"
            f" ({int(np.sum(deviation > 0))} of {expected.size} entries off)\n"
            f"{shown('expected', expected)}\n{shown('got' + given, got)}",
        )
    return ok(f"{what} matches the expected value" + (f"s (shape {expected.shape})" if expected.ndim else ""))


@dataclass
class Expect:
    """A check that the returned value equals `expected` (an array, a number, or None), within a tolerance."""

    expected: object
    rtol: float = RTOL
    atol: float = ATOL
    mistakes: dict = field(default_factory=dict)  # words -> the output that mistake gives (visible cases)
    layout_words: str = ""  # a feature map's diagnosis when its rows have the right inner products in another layout

    def __call__(self, outcome):
        got = outcome.outputs.get("value")
        kind = outcome.kinds.get("value", "")
        if self.expected is None:
            verdict = (
                ok("returned None as expected")
                if got is None
                else fail(WRONG_VALUE, f"expected None, got ({kind}):\n{fence(show(got))}")
            )
        else:
            verdict = compare_arrays(got, self.expected, kind, rtol=self.rtol, atol=self.atol)
        verdict = with_diagnosis(verdict, got, self.mistakes)
        if (
            self.layout_words
            and not verdict.passed
            and not verdict.diagnosis
            and same_inner_products(got, self.expected)
        ):
            verdict.diagnosis = self.layout_words
        return verdict


def same_inner_products(got: np.ndarray | None, expected: object) -> bool:
    """Are `got`'s rows a feature map with `expected`'s inner products (same shape, columns in another order)?"""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None or got.ndim != 2 or got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    return bool(np.allclose(got @ got.T, expected @ expected.T, rtol=RTOL, atol=ATOL))


def expect(expected: object, **options: Any) -> Expect:
    """The check that a call returned `expected` (options: rtol, atol, mistakes)."""
    return Expect(expected, **options)


def with_diagnosis(verdict: Verdict, got: np.ndarray | None, mistakes: dict[str, np.ndarray]) -> Verdict:
    """A failed verdict gets the catalogued mistake its output equals, if any."""
    if not verdict.passed and got is not None:
        verdict.diagnosis = next(
            (
                words
                for words, value in mistakes.items()
                if got.shape == value.shape and np.allclose(got, value, rtol=1e-4, atol=1e-6, equal_nan=True)
            ),
            "",
        )
    return verdict


@dataclass
class FeatureGram:
    """A check of a feature map by its inner products: phi(X) phi(X)^T must equal `gram`.

    Any layout of the features passes (any column order, as long as it is the same for every row).
    Without `gram` it is the quadratic kernel's (X X^T + 1)^2, with at most 1 + D + D^2 features;
    with `features`, exactly that many are required (2R for random features).
    """

    X: np.ndarray
    mistakes: dict = field(default_factory=dict)  # words -> the Gram matrix that mistake gives
    gram: np.ndarray | None = None  # the expected phi(X) phi(X)^T (None: the quadratic kernel's)
    features: int = 0  # the exact number of features (0: at most 1 + D + D^2)

    @property
    def expected_gram(self) -> np.ndarray:
        return (self.X @ self.X.T + 1.0) ** 2 if self.gram is None else np.asarray(self.gram, dtype=np.float64)

    @property
    def widest(self) -> int:
        """The most features allowed."""
        D = self.X.shape[1]
        return self.features or 1 + D + D * D

    def __call__(self, outcome):
        N, phi = self.X.shape[0], outcome.outputs.get("value")
        fits = phi is not None and phi.ndim == 2 and phi.shape[0] == N and phi.shape[1] <= self.widest
        if not fits or (self.features and phi.shape[1] != self.features):
            got = "None" if phi is None else f"shape {phi.shape}"
            wanted = f"({N}, {self.features})" if self.features else f"({N}, F) with F <= 1 + D + D^2 = {self.widest}"
            return fail(WRONG_SHAPE, f"expected features of shape {wanted}, got {got}")
        gram = phi @ phi.T
        return with_diagnosis(compare_arrays(gram, self.expected_gram, what="phi(X) phi(X)^T"), gram, self.mistakes)
