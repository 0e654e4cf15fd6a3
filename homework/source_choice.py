"""Problem 2 graded from whichever of transformer.py and submission_log.json earns more, part by part.

A notebook exported to transformer.py often does not import (`get_ipython()` magics, a failing
top-level `test()`), while the log beside it is complete. The parts transformer.py provides (the
PytorchTransformer class, each hand-designed weights function) are graded from transformer.py
first; only a part with a case short of full marks is graded again from the log, and the log's
result stands when it earns more. The choice is said at the top of the results and in each public case.
"""

import re
from collections.abc import Callable

from autograder.checks import GRADER_ERROR
from autograder.results import TestResult

from .logged import WithoutTransformerFile

FROM_LOG = "Graded from submission_log.json"  # how each such case's output begins (check shows that paragraph)
ERROR_LINE_CAP = 200  # characters of the student's error message quoted in the top-level note
FENCED = re.compile(
    r"^(`{3,})[^`\n]*\n(.*?)\n\1$", re.DOTALL | re.MULTILINE
)  # a fenced block, as results.fence writes it


def better_source_of_problem2(
    cases: list, tests: list[TestResult], submission, rerun: Callable[[list, WithoutTransformerFile], list[TestResult]]
) -> tuple[list[TestResult], str]:
    """`tests` with each part of problem 2 graded from the log where that earns more, and the Markdown saying so.

    `rerun(cases, view)` judges some cases on a view of the submission without transformer.py. Nothing
    runs again when there is no transformer.py, no readable log, or every part passes from transformer.py.
    """
    if not submission.has("transformer.py") or submission.log[0] is None:
        return tests, ""
    # Imported here, once the cases are: in the students' bundle an early import of a case module would keep
    # all_cases() from registering the frozen public cases.
    from .cases.problem2 import SOURCE_PARTS

    by_number = {test.number: test for test in tests}
    falling_short = {}
    for part, numbers in SOURCE_PARTS.items():
        part_cases = [case for case in cases if case.number in numbers]
        if any(by_number[case.number].category == GRADER_ERROR for case in part_cases):
            continue  # the grader's fault, not transformer.py's: course staff grade it again
        if any(by_number[case.number].score < by_number[case.number].max_score for case in part_cases):
            falling_short[part] = part_cases
    if not falling_short:
        return tests, ""
    from_log = {
        test.number: test
        for test in rerun([c for part in falling_short.values() for c in part], WithoutTransformerFile(submission))
    }
    lines = []
    for part, part_cases in falling_short.items():
        numbers = [case.number for case in part_cases]
        file_score = sum(by_number[number].score for number in numbers)
        log_score = sum(from_log[number].score for number in numbers)
        if log_score <= file_score:
            continue
        top = sum(by_number[number].max_score for number in numbers)
        why = why_transformer_file_fell_short([by_number[case.number] for case in part_cases if case.public])
        said = (
            f"{FROM_LOG}: {why}, and the {part} in submission_log.json earns more "
            f"({log_score:g} of {top:g} points; transformer.py's: {file_score:g})."
        )
        lines.append(
            f"- {part}: {why}; graded from submission_log.json instead ({log_score:g} of {top:g} points; "
            f"transformer.py's: {file_score:g})"
        )
        for case in part_cases:  # a hidden case says only its category; the top of the results says the rest
            said_here = f"{said}\n\n" if case.public else ""
            by_number[case.number] = from_log[case.number].model_copy(
                update={"output": said_here + from_log[case.number].output}
            )
    if not lines:
        return tests, ""
    note = (
        "**Problem 2, graded from the better of transformer.py and submission_log.json:**\n" + "\n".join(lines) + "\n\n"
    )
    return [by_number[test.number] for test in tests], note


def why_transformer_file_fell_short(tests: list[TestResult]) -> str:
    """'transformer.py could not be imported (NameError: ...)' when one of these public cases shows an import-time
    error; otherwise that transformer.py's version earned fewer points. Hidden cases' details are never quoted."""
    for test in tests:
        if test.visibility == "hidden" or test.status == "passed" or "<module>" not in test.output:
            continue
        fenced = FENCED.search(test.output)
        if fenced and "transformer.py" in fenced.group(2):
            last = [line.strip() for line in fenced.group(2).splitlines() if line.strip()][-1]
            quoted = last[:ERROR_LINE_CAP].replace("`", "'")
            return f"transformer.py could not be imported (`{quoted}`)"
    return "transformer.py's version earned fewer points"
