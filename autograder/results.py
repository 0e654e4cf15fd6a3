"""Gradescope's results.json: the typed models, the one function that produces its schema, the one writer."""

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]

# What a terminal or a browser would act on instead of showing: ANSI/VT escape sequences (CSI, also as the C1 byte,
# OSC, and the short two-character ones), C0 controls but newline and tab, DEL, C1 controls, and Unicode's
# bidirectional overrides, isolates and marks.
ESCAPE_SEQUENCES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without escape sequences and control characters; newlines and tabs stay, a CR-LF becomes a newline."""
    return CONTROL_CHARACTERS.sub("", ESCAPE_SEQUENCES.sub("", text.replace("\r\n", "\n")))


def fence(text: str, info: str = "") -> str:
    """`text` as a Markdown fenced code block: a fence of backticks longer than any run of them inside, so that nothing
    in `text` (a student's string included) can close the block early; the text is made printable first."""
    text = printable(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"


class CleanText(BaseModel):
    """A model whose every text field is made printable, when built and when assigned: student text ends up in them."""

    model_config = ConfigDict(validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value):
        return printable(value) if isinstance(value, str) else value


class TestResult(CleanText):
    """One entry of results.json's `tests`."""

    number: str = Field(description="the homework problem's number, a dot, the case's number: '2.3'")
    name: str
    score: float
    max_score: float
    status: Literal["passed", "failed"] | None = Field(
        None,
        description="None for an optional task the student did not attempt: neither passed nor failed (Gradescope "
        "then gets no status, and a results.json read back without one gives None)",
    )
    output: str = ""
    visibility: Visibility = "visible"
    tags: list[str] = Field(default_factory=list, description="gradescope-utils' @tags of the case")
    category: str = Field("", exclude=True, description="our own failure category; not part of Gradescope's schema")
    diagnosis: str = Field(
        "", exclude=True, description="the catalogued mistake a visible case's output matches, in plain words"
    )
    behaviour: str = Field(
        "", exclude=True, description="hostile or odd behaviour seen while the case ran, for course staff"
    )
    details: str = Field(
        "",
        exclude=True,
        description="a grader error's traceback or reason, for course staff: the hidden "
        "entry 0.2 holds it in results.json, `grade` prints it to stderr",
    )


class Results(CleanText):
    """A whole submission's grade."""

    tests: list[TestResult]
    output: str = ""
    execution_time: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(test.score for test in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(test.max_score for test in self.tests), 6)


def to_gradescope_dict(results: Results) -> dict:
    """The JSON object Gradescope reads; the only place that knows its field names."""
    return {
        "score": results.score,
        "execution_time": round(results.execution_time, 3),
        "output": results.output,
        "output_format": "md",
        "test_output_format": "md",
        "stdout_visibility": "hidden",
        "tests": [
            {
                key: value
                for key, value in {
                    "name": test.name,
                    "number": test.number,
                    "score": round(test.score, 6),
                    "max_score": test.max_score,
                    "status": test.status,
                    "output": test.output,
                    "output_format": "md",
                    "visibility": test.visibility,
                    "tags": test.tags or None,
                }.items()
                if value is not None
            }  # no status: an optional task not attempted; no tags: none declared
            for test in results.tests
        ],
    }


def grader_failure(details: str) -> Results:
    """The results of a run in which the grader itself failed: a visible notice and the details for staff."""
    return Results(
        tests=[
            TestResult(
                number="0.1",
                name="Autograder error",
                score=0,
                max_score=0,
                status="failed",
                output="The autograder failed while grading this submission. Please contact course staff.",
            ),
            TestResult(
                number="0.2",
                name="Autograder error (details for staff)",
                score=0,
                max_score=0,
                status="failed",
                output=fence(details[-20000:]),
                visibility="hidden",
            ),
        ],
        output="The autograder failed. Please contact course staff.",
    )


def write_results(results: Results, path: str | Path) -> None:
    """Write results.json atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(to_gradescope_dict(results), out, indent=2, allow_nan=False)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
