"""The self-check's report as data: what `check` prints and what the notebook renders, built once from the results."""

from dataclasses import dataclass, field

from autograder.grade import problem_scores
from autograder.registry import problem_titles
from autograder.results import Results, printable

GRADED_FROM = "Graded from "  # a passing case's output that begins so says where its answer came from (HW9: the log)

WHAT_CHECK_CANNOT_SEE = (
    "The hidden tests on Gradescope check more cases than these, with other inputs; there a "
    "public case counts only if it also passes on fresh inputs of the same kind, which this "
    "self-check cannot run."
)
COLOURS = {"pass": "32", "fail": "31", "bold": "1", "dim": "2", "skip": "2"}
VERDICTS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}  # skip: an optional task not attempted (neither)
VERBOSE_HINT = "(details: --verbose)"


@dataclass
class CaseLine:
    """One visible case: its verdict, and its explanation when the report expands it."""

    number: str
    name: str
    score: float
    max_score: float
    passed: bool
    explanation: str | None = None  # the case's output, printable; None when not expanded
    folded: bool = False  # a failure whose explanation only --verbose shows
    attempted: bool = True  # False: an optional task left out, neither passed nor failed
    note: str = ""  # said of a case even when it passes (e.g. that it was graded from submission_log.json)

    @property
    def verdict(self) -> str:
        """ "pass", "fail" or "skip" (an optional task not attempted)."""
        return "skip" if not self.attempted else "pass" if self.passed else "fail"

    @property
    def points(self) -> str:
        return f"{self.score:g}/{self.max_score:g}"


@dataclass
class ProblemBlock:
    """The visible cases of one problem (problem "0": the grader's own entries), in the results' order."""

    number: str
    title: str
    cases: list[CaseLine] = field(default_factory=list)


@dataclass
class ScoreLine:
    """A problem's points over the graded cases."""

    number: str
    title: str
    score: float
    max_score: float

    @property
    def full(self) -> bool:
        return self.score == self.max_score


@dataclass
class CheckReport:
    """Everything a self-check report shows."""

    problems: list[ProblemBlock]
    scores: list[ScoreLine]
    score: float
    max_score: float
    failed: int  # graded public cases (max_score > 0) that failed
    optional_failed: int = 0  # attempted optional tasks (no points) that failed

    @property
    def verdict(self) -> str:
        """The closing line: how many public cases failed, and what the hidden tests check beyond them."""
        said = "All public cases pass." if not self.failed else f"{self.failed} public case(s) failed."
        if self.optional_failed:  # worth no points: said apart, so that the count above stays that of graded cases
            said += (
                " The optional task, worth no points, failed too."
                if self.failed
                else " Only the optional task, worth no points, failed."
            )
        return f"{said} {WHAT_CHECK_CANNOT_SEE}"


def build_report(results: Results, expand: str = "none") -> CheckReport:
    """The report of `results`. expand: "none", "first" (the first failure of each problem) or "all"."""
    problems, expanded = [], set()
    for test in (test for test in results.tests if test.visibility != "hidden"):
        problem = test.number.split(".")[0]
        if not problems or problems[-1].number != problem:
            problems.append(ProblemBlock(problem, problem_titles().get(problem, "grader")))
        # The models clean student text already; the report cleans it again, a second guard for terminals.
        line = CaseLine(
            test.number,
            printable(test.name),
            test.score,
            test.max_score,
            test.status == "passed",
            attempted=test.status is not None,
        )
        if line.passed and test.output.startswith(GRADED_FROM):
            line.note = printable(test.output.split("\n\n", 1)[0])
        if line.verdict == "fail" and (expand == "all" or (expand == "first" and problem not in expanded)):
            expanded.add(problem)
            line.explanation = printable(test.output)
        elif line.verdict == "fail" and expand == "first":
            line.folded = True
        problems[-1].cases.append(line)
    scores = [
        ScoreLine(number, problem_titles()[number], score, top)
        for number, (score, top) in sorted(problem_scores(results.tests).items())
    ]
    failed = sum(test.status == "failed" and test.max_score > 0 for test in results.tests)
    optional_failed = sum(
        test.status == "failed"
        and test.max_score == 0
        and test.visibility != "hidden"
        and test.number.split(".")[0] in problem_titles()
        for test in results.tests
    )
    return CheckReport(problems, scores, results.score, results.max_score, failed, optional_failed)


def paint(text: str, style: str, colour: bool) -> str:
    return f"\033[{COLOURS[style]}m{text}\033[0m" if colour else text


def report_text(report: CheckReport, colour: bool = False, hint: str = VERBOSE_HINT) -> str:
    """The report as the terminal shows it: one line per case, explanations indented, then points per problem.
    `hint` stands under a failure whose explanation is folded: how to see it."""
    lines = []
    for block in report.problems:
        lines += ["", paint(f"Problem {block.number}: {block.title}", "bold", colour)]
        for case in block.cases:
            verdict = paint(VERDICTS[case.verdict], case.verdict, colour)
            lines.append(f"  {verdict} {case.number:>5} {case.points:>7}  {case.name}")
            if case.note:
                lines.append(paint(f"{'':22}{case.note}", "dim", colour))
            if case.explanation is not None:
                lines += [f"{'':22}{line}" for line in case.explanation.splitlines()]
            elif case.folded:
                lines.append(paint(f"{'':22}{hint}", "dim", colour))
    lines += ["", paint("  problem                                   score", "bold", colour)]
    for row in report.scores:
        lines.append(
            f"  {row.number}  {row.title:<38} "
            f"{paint(f'{row.score:g} / {row.max_score:g}', 'pass' if row.full else 'fail', colour)}"
        )
    lines.append(f"  {'total':<41} {report.score:g} / {report.max_score:g}")
    return "\n".join(lines)
