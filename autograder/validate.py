"""`python -m autograder validate`: reference full marks, template and stubs zero, the hidden suite catches mutants.

A grader error (a case whose builder or check raises, a worker that cannot run it) is never the
submission's doing: it catches no mutant, and any one of them, in any run, fails `validate`, which
prints the case and its traceback.
"""

import json
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import checks
from autograder.checks import GRADER_ERROR, Expect, FeatureGram, Verdict
from autograder.config import GraderConfig
from autograder.grade import grade, grader_errors, plan_case
from autograder.homework import PACKAGE, REFERENCE, TEMPLATE, homework_path, hook, manifest
from autograder.log_file import LOG_NAME
from autograder.mutants import MODULE_PROBLEMS, mutants_of, original_source
from autograder.registry import Case, all_cases, problem_titles
from autograder.results import Results
from autograder.sandbox import Job, Outcome, WarmWorker
from autograder.secret import InputDraws, draws_for
from autograder.submission import Submission

EQUIVALENT = homework_path(
    manifest().mutants.equivalent if manifest().mutants else "equivalent_mutants.json"
)  # mutant id -> why no test can tell it apart
TARGET = 0.95
SAMPLE_PER_MODULE = 8
# A mutant is caught only by a failure that is the submission's doing; never by a grader error or the time budget.
CATCHING = {
    checks.WRONG_VALUE,
    checks.WRONG_SHAPE,
    checks.EXCEPTION,
    checks.TIMEOUT,
    checks.MEMORY,
    checks.CRASH,
    checks.UNSUPPORTED,
    checks.MISSING,
    checks.INVALID_LOG,
}


@dataclass
class GraderErrors:
    """Every grader error met in validate's runs: its details (a traceback or a reason) -> the cases and runs it hit."""

    found: dict = field(default_factory=dict)  # details -> {"cases": set of case numbers, "runs": list of run names}

    def add(self, run: str, number: str, details: str) -> None:
        entry = self.found.setdefault(details, {"cases": set(), "runs": []})
        entry["cases"].add(number)
        if run not in entry["runs"]:
            entry["runs"].append(run)

    def add_results(self, run: str, results: Results) -> None:
        for details, numbers in grader_errors(results).items():
            for number in numbers:
                self.add(run, number, details)

    def report(self) -> list[str]:
        """One paragraph per distinct error: the cases, the runs (the first few), the full traceback."""
        paragraphs = []
        for details, entry in self.found.items():
            cases = ", ".join(sorted(entry["cases"], key=lambda n: tuple(int(p) for p in n.split(".") if p.isdigit())))
            runs = entry["runs"][:3] + ([f"{len(entry['runs']) - 3} more"] if len(entry["runs"]) > 3 else [])
            paragraphs.append(f"GRADER ERROR in case {cases} (grading {'; '.join(runs)}):\n{details.rstrip()}")
        return paragraphs


@dataclass
class MutantReport:
    """Per problem: caught and survived mutants (equivalent ones set aside)."""

    caught: dict = field(default_factory=dict)
    survivors: dict = field(default_factory=dict)
    equivalent: int = 0
    stale_equivalents: list = field(default_factory=list)

    def rate(self, problem: str) -> float:
        caught, survived = self.caught.get(problem, 0), len(self.survivors.get(problem, []))
        return caught / (caught + survived) if caught + survived else 1.0


def check_reference_and_template(
    worker: WarmWorker, config: GraderConfig, errors: GraderErrors, cases: list[Case] | None = None
) -> list[str]:
    """Problems found: the reference must score full marks (every point its cases offer), the template zero, with no
    grader error (those go to `errors`, with their tracebacks)."""
    problems = []
    for path in (REFERENCE, TEMPLATE):
        results = grade(path, config, worker=worker, cases=cases)
        folder = path.name
        expected = results.max_score if path == REFERENCE else 0
        if results.score != expected or not results.max_score:
            problems.append(f"{folder} scores {results.score:g} of {results.max_score:g}, expected {expected:g}")
        errors.add_results(folder, results)
        failing = [t.number for t in results.tests if t.category == GRADER_ERROR]
        if failing:
            problems.append(f"{folder}: grader errors in {', '.join(failing)} (tracebacks below)")
    return problems


# Stub submissions: every function returns the same thing whatever it is given.
STUBS = ("None", "0", "zeros of the right shape", "its first input unchanged")


def right_shape(check: object) -> tuple[int, ...] | None:
    """The shape of the value a case expects (None when it expects None or checks something else)."""
    if isinstance(check, Expect) and check.expected is not None:
        return np.shape(check.expected)
    if isinstance(check, FeatureGram):
        return (check.X.shape[0], check.widest)
    return None


def stub_outputs(stub: str, job: Job, check: object) -> tuple[dict[str, np.ndarray | None], dict[str, str]]:
    """(outputs, kinds) as the worker would report them for `job` when the function called is `stub`: the homework's
    answer for jobs it knows better (its `stub_outputs` hook), else a plain function call's."""
    special = hook("stub_outputs")
    answer = special(stub, job, right_shape(check)) if special else None
    if answer is not None:
        return answer
    value = None
    if stub == STUBS[1]:
        value = np.asarray(0.0)
    elif stub == STUBS[2] and right_shape(check) is not None:
        value = np.zeros(right_shape(check))
    elif stub == STUBS[3] and job.args:
        first = job.args[0]
        value = np.asarray(first, dtype=np.float64) if isinstance(first, (np.ndarray, list, int, float)) else None
    return {"value": value}, {"value": "None" if value is None else "numpy.ndarray (float64)"}


def stub_passes(
    plan: tuple[Job, Callable[[Outcome], Verdict]] | Verdict,
    stub: str,
    number: str = "",
    errors: GraderErrors | None = None,
) -> bool:
    """Does a stub pass this plan? A plan or check that fails is a grader error (noted in `errors`) and no pass."""
    if isinstance(plan, Verdict):
        if plan.category == GRADER_ERROR and errors is not None:
            errors.add("the stubs", number, plan.details or plan.message)
        return plan.passed
    job, check = plan
    outputs, kinds = stub_outputs(stub, job, check)
    try:
        return check(Outcome("ok", outputs=outputs, kinds=kinds)).passed
    except Exception:
        if errors is not None:
            errors.add(f"a stub returning {stub}", number, traceback.format_exc())
        return False


def stub_points(
    root: str | Path = TEMPLATE,
    draws: InputDraws | None = None,
    errors: GraderErrors | None = None,
    cases: list[Case] | None = None,
) -> dict[str, list[tuple[Case, float]]]:
    """stub -> [(case, points)] it earns, twins included, graded on the template's files (no log); the plans and checks
    that fail go to `errors` (a GraderErrors; without one, they raise AssertionError)."""
    own_errors = errors is None
    errors = GraderErrors() if own_errors else errors
    submission = Submission(root)
    draws = draws or draws_for(root)[0]
    cases = all_cases() if cases is None else cases
    earned, notes = {}, []
    for case in cases:
        if case.weight == 0:
            continue
        plan = plan_case(case, submission, None, notes, draws)
        twin = None
        if isinstance(case.twin, str):
            twin = plan_case(next(c for c in cases if c.number == case.twin), submission, None, notes, draws)
        elif case.twin:
            twin = plan_case(case, submission, None, notes, draws, twin=True)
        for stub in STUBS:
            twin_number = case.twin if isinstance(case.twin, str) else case.number
            if stub_passes(plan, stub, case.number, errors) and (
                twin is None or stub_passes(twin, stub, twin_number, errors)
            ):
                earned.setdefault(stub, []).append((case, case.weight))
    assert not (own_errors and errors.found), errors.report()
    return earned


def stub_problems(earned: dict[str, list[tuple[Case, float]]]) -> list[str]:
    """Lines naming the points a stub earns on a case that does not declare its answer constant."""
    return [
        f"a stub returning {stub} earns {points:g} on case {case.number} ({case.name})"
        for stub, cases in earned.items()
        for case, points in cases
        if not case.constant_answer
    ]


def caught(results: Results) -> bool:
    """Does a mutant's grade catch it? Only a graded case failing by the submission's doing does (never a grader
    error)."""
    return any(t.status == "failed" and t.max_score > 0 and t.category in CATCHING for t in results.tests)


def run_mutants(
    worker: WarmWorker,
    config: GraderConfig,
    everything: bool = False,
    seed: int = 0,
    errors: GraderErrors | None = None,
    modules: Iterable[str] = MODULE_PROBLEMS,
    cases: list[Case] | None = None,
    sample: int = SAMPLE_PER_MODULE,
) -> MutantReport:
    """Grade mutants of the reference `modules` on their own problems' cases (of `cases`, default all); return a
    MutantReport. Grader errors go to `errors` (a GraderErrors) and catch nothing."""
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    report, rng = MutantReport(), random.Random(seed)
    errors = GraderErrors() if errors is None else errors
    cases = all_cases() if cases is None else cases
    with tempfile.TemporaryDirectory(prefix="hw9-mutants-") as scratch:
        for module in modules:
            every = mutants_of(module)
            mutants = [m for m in every if m.id not in equivalent]
            report.equivalent += len(every) - len(mutants)
            report.stale_equivalents += [
                i for i in equivalent if i.startswith(module + ":") and i not in {m.id for m in every}
            ]
            if not everything:
                mutants = rng.sample(mutants, min(sample, len(mutants)))
            original = original_source(module)
            for mutant in mutants:
                folder = Path(scratch) / mutant.id.replace(":", "_")
                shutil.copytree(
                    REFERENCE,
                    folder,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py", *manifest().mutants.left_out),
                )
                (folder / f"{module}.py").write_text(mutant.source)
                own = [c for c in cases if c.problem == mutant.problem]
                if (
                    module in manifest().mutants.without_log
                ):  # judged alone: the reference's log would be graded instead
                    (folder / LOG_NAME).unlink()
                    left_out = {f"{PACKAGE}.{name}" for name in manifest().mutants.without_log[module]}
                    own = [c for c in own if c.build.__module__ not in left_out]
                results = grade(folder, config, worker=worker, cases=own)
                errors.add_results(f"mutant {mutant.id}", results)
                if caught(results):
                    report.caught[mutant.problem] = report.caught.get(mutant.problem, 0) + 1
                else:
                    report.survivors.setdefault(mutant.problem, []).append((mutant, mutant.diff(original)))
                shutil.rmtree(folder)
    return report


def validate(everything: bool = False) -> int:
    """Run every check, print the report; return the exit status (0 when everything holds)."""
    config = GraderConfig(case_timeout=5.0)
    errors = GraderErrors()
    with WarmWorker(config) as worker:
        problems = check_reference_and_template(worker, config, errors)
        report = run_mutants(worker, config, everything, errors=errors)
    print(*(problems or ["reference: full marks; student template: zero, with no grader error"]), sep="\n")
    earned = stub_points(errors=errors)
    stubs = stub_problems(earned)
    problems += stubs
    print(*(stubs or [f"stubs ({', '.join(STUBS)}): no points outside the declared constants"]), sep="\n")
    for stub, cases in earned.items():
        for case, points in cases:
            if case.constant_answer:
                print(
                    f"  declared constant: a stub returning {stub} earns {points:g} on {case.number}: "
                    f"{case.constant_answer}"
                )
    print(
        f"\nmutants ({'all' if everything else f'a sample of {SAMPLE_PER_MODULE} per module'}; "
        f"{report.equivalent} marked equivalent in {EQUIVALENT.name})"
    )
    if report.stale_equivalents:
        print(
            f"  {len(report.stale_equivalents)} entries of {EQUIVALENT.name} match no mutant any more: "
            f"{', '.join(report.stale_equivalents)}"
        )
    shown = set()
    for problem in sorted(problem_titles()):
        caught, survivors = report.caught.get(problem, 0), report.survivors.get(problem, [])
        status = "ok" if report.rate(problem) >= TARGET else f"BELOW {TARGET:.0%}"
        print(
            f"  problem {problem}: {caught} of {caught + len(survivors)} caught ({report.rate(problem):.0%}) {status}"
        )
    for problem in sorted(report.survivors):
        for mutant, diff in report.survivors[problem]:
            if mutant.id not in shown:
                shown.add(mutant.id)
                print(f"\nsurvivor {mutant.id}\n{diff}")
    below = [p for p in problem_titles() if report.rate(p) < TARGET]
    if errors.found:
        print(
            f"\n{len(errors.found)} grader error(s): a case the grader cannot grade catches no mutant "
            "and fails validate"
        )
        print(*(f"\n{paragraph}" for paragraph in errors.report()), sep="\n")
    return 1 if problems or below or errors.found else 0
