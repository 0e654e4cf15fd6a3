"""The grading pipeline: locate the submission, run each case in the worker, judge it here, build the results."""

import dataclasses
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from autograder import checks
from autograder.checks import Verdict, fail
from autograder.config import GraderConfig
from autograder.frozen import never_reads_the_submission
from autograder.homework import grader_callables, hook
from autograder.portable import make_worker
from autograder.registry import Case, all_cases, problem_titles, public_cases, rng
from autograder.results import Results, TestResult, fence
from autograder.sandbox import Job, Outcome, WarmWorker, describe_protections
from autograder.secret import InputDraws, SecretUnavailable, draws_for
from autograder.submission import Submission
from autograder.untrusted_fs import CopyLimits

LEFT_BEHIND = "left a process or thread running after it returned"
GRADER_FAULT = fail(checks.GRADER_ERROR, "The grader failed on this case. Please contact course staff.")
CUT_SHORT = "the grading time budget left no more time for it"
CASE_OVERHEAD = 0.25  # seconds a case costs beyond its timeout at worst (a fresh child, its import, its outputs read)
OUTCOME_CATEGORIES = {
    "exception": checks.EXCEPTION,
    "timeout": checks.TIMEOUT,
    "memory": checks.MEMORY,
    "crash": checks.CRASH,
    "unsupported": checks.UNSUPPORTED,
    "grader_error": checks.GRADER_ERROR,
}


def grade(
    folder: str | Path,
    config: GraderConfig | None = None,
    public_only: bool = False,
    worker: WarmWorker | None = None,
    cases: list[Case] | None = None,
    deadline: float | None = None,
) -> Results:
    """Grade the submission in `folder` with every case (or the public ones); never raises for student faults.

    A warm `worker` may be shared between submissions; without one, a worker is started and
    stopped here (its torch import overlaps with planning the first cases). `cases` narrows
    the run to some cases (validate grades a mutant on its own problem's cases only).
    Grading keeps to config.grade_budget_seconds from the call (or to `deadline`, a time.monotonic()
    value): the cases that no longer fit are failed as not run, and the results are still complete.
    """
    config = config or GraderConfig()
    started = time.monotonic()
    deadline = deadline or started + config.grade_budget_seconds
    if worker is None:
        with make_worker(config) as own_worker:  # the Linux warm worker, or the portable one elsewhere
            return grade(folder, config, public_only, own_worker, cases, deadline)
    limits = CopyLimits(file_bytes=config.submission_file_cap_mb * 2**20)
    submission = Submission.from_upload(
        folder, config.log_cap_kb * 1024, limits
    )  # a private copy; links never followed
    try:
        return grade_copy(submission, config, public_only, worker, cases, deadline, started)
    finally:
        submission.close()


def grade_copy(
    submission: Submission,
    config: GraderConfig,
    public_only: bool,
    worker: WarmWorker,
    cases: list[Case] | None,
    deadline: float,
    started: float,
) -> Results:
    """grade() once the upload is copied: plan, run and judge every case, then build the results."""
    if cases is None:
        cases = public_cases() if public_only else all_cases()
    staff_notes = []
    draws = None if public_only else submission_draws(submission.root, staff_notes)  # the private copy: no link in it
    tests = judged_tests(cases, submission, config, public_only, worker, deadline, staff_notes, draws)
    after_grading, chosen_notes = (
        hook("after_grading"),
        "",
    )  # the homework's last word, e.g. HW9's better source of problem 2
    if after_grading is not None:
        tests, chosen_notes = after_grading(
            cases,
            tests,
            submission,
            lambda some_cases, view: judged_tests(
                some_cases, view, config, public_only, worker, deadline, staff_notes, draws
            ),
        )
    if worker.protections.get("root_only"):  # failing closed: no student code ran, so nothing of it earns a point
        tests = [refused(test) for test in tests]
    not_run = sum(test.category == checks.NOT_RUN for test in tests)
    if not_run:
        staff_notes.append(f"the time budget ({config.grade_budget_seconds:g} s) ran out: {not_run} case(s) not run")
    tests.append(
        TestResult(
            number="0.1",
            name="Grader protections (staff only)",
            score=0,
            max_score=0,
            status="passed",
            output="\n".join(f"- {line}" for line in describe_protections(worker.protections)),
            visibility="hidden",
        )
    )
    if staff_notes:
        tests.append(
            TestResult(
                number="0.2",
                name="Grader diagnostics (staff only)",
                score=0,
                max_score=0,
                status="failed",
                output="\n\n".join(staff_notes),
                visibility="hidden",
            )
        )
    stopped = f"Grading stopped when the time budget ran out: {not_run} case(s) were not run.\n\n" if not_run else ""
    output = stopped + submission.notes() + chosen_notes + summary_table(tests)
    return Results(tests=tests, output=output, execution_time=time.monotonic() - started)


def judged_tests(
    cases: list[Case],
    submission: Submission,
    config: GraderConfig,
    public_only: bool,
    worker: WarmWorker,
    deadline: float,
    staff_notes: list[str],
    draws: InputDraws | None,
) -> list[TestResult]:
    """Plan, run and judge `cases` on `submission` (twins included): their TestResults, in the same order."""
    not_found = submission.not_found
    plans = [plan_case(case, submission, not_found, staff_notes, draws) for case in cases]
    twins = {
        case.number: plan_case(case, submission, not_found, staff_notes, draws, twin=True)
        for case in cases
        if callable(case.twin) and not public_only
    }
    outcomes = run_jobs(cases, plans, submission, worker, config.process_per_case, deadline, config, twins)
    tests = [
        judge_case(case, plan, outcomes.get(case.number), config, staff_notes)
        for case, plan in zip(cases, plans, strict=True)
    ]
    judged = {test.number: test for test in tests}  # a hidden case standing as a twin has no twin of its own

    def twin_of(case):
        """The twin's result (hidden style), judged only when its case passed; None when it has none or was not
        graded."""
        if public_only or judged[case.number].status != "passed":
            return None
        if isinstance(case.twin, str):
            return judged.get(case.twin)
        if case.number in twins:
            hidden = dataclasses.replace(case, public=False)
            return judge_case(hidden, twins[case.number], outcomes.get(f"twin:{case.number}"), config, staff_notes)
        return None

    tests = [with_twin(test, case, twin_of(case)) for test, case in zip(tests, cases, strict=True)]
    return [
        optional_entry(case, test, plan, outcomes.get(case.number))
        for test, case, plan in zip(tests, cases, plans, strict=True)
    ]


NOT_ATTEMPTED_SUFFIX = " (not attempted)"


def optional_entry(
    case: Case, test: TestResult, plan: tuple[Job, Callable[[Outcome], Verdict]] | Verdict, outcome: Outcome | None
) -> TestResult:
    """An optional case's entry when the student left the task out (its file or function missing, or the stub still
    raising NotImplementedError): "not attempted", worth 0 of 0, neither passed nor failed; otherwise `test` as it
    is."""
    why = not_attempted_reason(case, plan, outcome) if case.optional and test.max_score == 0 else None
    if why is None:
        return test
    output = f"Not attempted: {why}. This optional task is worth no points, so nothing is lost."
    return test.model_copy(
        update={
            "name": case.name + NOT_ATTEMPTED_SUFFIX,
            "score": 0.0,
            "status": None,
            "output": output,
            "category": checks.NOT_ATTEMPTED,
            "diagnosis": "",
        }
    )


def not_attempted_reason(
    case: Case, plan: tuple[Job, Callable[[Outcome], Verdict]] | Verdict, outcome: Outcome | None
) -> str | None:
    """Why an optional case counts as left out, or None when the student's attempt ran (and passed or failed)."""
    if isinstance(plan, Verdict):
        return plan.message if plan.category == checks.MISSING else None
    function = plan[0].function
    if outcome is None or outcome.status != "exception":
        return None
    if outcome.error_type == "NotImplementedError":
        return f"{function}() still raises NotImplementedError"
    if outcome.error_type == "AttributeError" and f"has no attribute '{function}'" in outcome.error:
        return f"{case.file or 'your file'} has no {function}()"
    return None


def submission_draws(root: Path | None, staff_notes: list[str]) -> InputDraws:
    """The generators of this submission's hidden inputs (a one-off secret's, noted for staff, if there is no
    secret)."""
    draws, note = draws_for(root)
    if note:
        staff_notes.append(note)
    return draws


def grader_fault(case: Case, staff_notes: list[str]) -> Verdict:
    """The verdict on a case whose plan or check raised (call it in the `except` block): "contact course staff" for the
    student; the traceback for staff, in the hidden entry 0.2 (through `staff_notes`) and in the verdict's details."""
    details = traceback.format_exc()
    staff_notes.append(f"case {case.number}:\n{fence(details)}")
    return dataclasses.replace(GRADER_FAULT, details=details)


def grader_errors(results: Results) -> dict[str, list[str]]:
    """The grader errors of a grade, for course staff: their details (a traceback or a reason) -> the cases they
    cost."""
    found: dict[str, list[str]] = {}
    for test in results.tests:
        if test.category == checks.GRADER_ERROR:
            found.setdefault(test.details or test.output, []).append(test.number)
    return found


FAILED_CLOSED = "no student code ran: the grader fails closed (as root, with no other user for student code; entry 0.1)"


def refused(test: TestResult) -> TestResult:
    """A graded case when the grader fails closed (as root, with no other user for student code): the grader's
    error, worth nothing, even for the cases judged from the log alone."""
    if test.max_score == 0 or test.category == checks.GRADER_ERROR:
        return test
    return test.model_copy(
        update={
            "score": 0,
            "status": "failed",
            "category": checks.GRADER_ERROR,
            "diagnosis": "",
            "output": GRADER_FAULT.message,
            "details": FAILED_CLOSED,
        }
    )


def plan_case(
    case: Case,
    submission: Submission,
    not_found: str | None,
    staff_notes: list[str],
    draws: InputDraws | None = None,
    twin: bool = False,
) -> tuple[Job, Callable[[Outcome], Verdict]] | Verdict:
    """A case's plan: (job, check) for the worker, or a Verdict already (a missing file, a log check, a grader fault).

    A public case's own plan uses its fixed inputs (built once per process when it never reads
    the submission); a hidden case's, or with `twin` a public case's twin, draws this submission's.
    """
    if not_found:
        return fail(checks.MISSING, not_found)
    if case.file and not submission.has(case.file):
        return fail(checks.MISSING, submission.missing_reason(case.file))
    try:
        if case.public and not twin:
            plan = fixed_plan(case) if never_reads_the_submission(case) else case.build(submission, rng(case.number))
        else:
            if draws is None:
                raise SecretUnavailable("no secret: hidden inputs cannot be drawn")
            build = case.twin if twin else case.build
            plan = build(submission, draws.generator("twin" if twin else "hidden", case.number))
        if not isinstance(plan, Verdict):
            job, _ = plan
            job.timeout = job.timeout or case.timeout
            job.seed = zlib.crc32(case.number.encode())
        return plan
    except Exception:
        return grader_fault(case, staff_notes)


_FIXED_PLANS = {}


def fixed_plan(case: Case) -> tuple[Job, Callable[[Outcome], Verdict]]:
    """The plan of a public case that never reads the submission (`build student` freezes those): made once a
    process."""
    if case.number not in _FIXED_PLANS:
        _FIXED_PLANS[case.number] = case.build(None, rng(case.number))
    job, check = _FIXED_PLANS[case.number]
    return dataclasses.replace(job), check


def run_jobs(
    cases: list[Case],
    plans: list[tuple[Job, Callable[[Outcome], Verdict]] | Verdict],
    submission: Submission,
    worker: WarmWorker,
    process_per_case: bool = False,
    deadline: float = float("inf"),
    config: GraderConfig | None = None,
    twins: dict[str, tuple[Job, Callable[[Outcome], Verdict]] | Verdict] | None = None,
) -> dict[str, Outcome]:
    """case number (or "twin:" + number) -> Outcome of every planned job that fits before `deadline`: visible cases
    first, then hidden ones and the public cases' twins.

    Cases of one batch share a worker child until one of them crashes, hangs or leaves a process
    behind; hidden inputs (twins' included) never reach a child whose output is shown, and run only after it. A batch
    holds one case of each function not run yet (hang_key) and every case of the functions that returned once (so
    a grade takes two batches a round, not one per case), and only cases whose timeouts fit in the time left; the rest
    wait for the next batch, and a case that no longer fits is left out (no Outcome: judge_case fails it as not run).
    Once a function has timed out, its cases not run yet are not run: each gets a timeout Outcome naming the case that
    hung. The twin of a public case runs only when that case returned (nothing would judge it otherwise), and then
    even if its function hung elsewhere: it may pass, and a passing case is failed by its twin.
    """
    config = config or GraderConfig()
    runs = [
        (case.number, case.public, plan[0]) for case, plan in zip(cases, plans, strict=True) if isinstance(plan, tuple)
    ]
    runs += [(f"twin:{number}", False, plan[0]) for number, plan in (twins or {}).items() if isinstance(plan, tuple)]
    outcomes, hung, returned = {}, {}, set()  # hung: hang_key -> the case where it timed out; returned: hang_keys
    for visible in (True, False):
        pending = [
            (key, job) for key, public, job in runs if public == visible and twin_returned(key, outcomes) is not False
        ]
        while pending:
            skipped = [(key, job) for key, job in pending if hang_key(job) in hung and not twin_returned(key, outcomes)]
            outcomes.update({key: Outcome("timeout", skipped_after=hung[hang_key(job)]) for key, job in skipped})
            pending = [item for item in pending if item not in skipped]
            candidates = next_candidates(pending, returned)[: 1 if process_per_case else None]
            full = [job.timeout or config.case_timeout for _, job in candidates]
            batch = fitting_batch([job for _, job in candidates], deadline - time.monotonic(), config)
            if not batch:
                break
            ran = worker.run_batch(batch, submission.root)
            # ran covers the batch: the candidates that fit in the time left, a prefix of them (hence strict=False)
            for (key, job), timeout, outcome in zip(candidates, full, ran, strict=False):
                if outcome.status == "timeout" and job.timeout < timeout:
                    outcome.error = CUT_SHORT
                elif outcome.status == "timeout":
                    hung.setdefault(hang_key(job), key.removeprefix("twin:"))
                else:
                    returned.add(hang_key(job))
                outcomes[key] = outcome
            done = {key for key, _ in candidates[: len(batch)]}
            pending = [(key, job) for key, job in pending if key not in done]
    return outcomes


def twin_returned(key: str, outcomes: dict[str, Outcome]) -> bool | None:
    """For a twin's key: True when its case ran and returned, False when it ran and did not (nothing will judge the
    twin), None when its case has not run yet (a hidden case's twin runs beside it) or `key` is no twin's."""
    outcome = outcomes.get(key.removeprefix("twin:")) if key.startswith("twin:") else None
    return None if outcome is None else outcome.status == "ok"


def hang_key(job: Job) -> tuple[str, str, bool]:
    """The function a job runs, as far as hanging goes: its module and name (problem 2's class, from the log or the
    file)."""
    return job.module, job.function, job.class_source is not None


def next_candidates(pending: list[tuple[str, Job]], returned: set[tuple[str, str, bool]]) -> list[tuple[str, Job]]:
    """The pending (key, job)s of the next batch, in order: every case of a function in `returned` (it returned once),
    and the first case of each other function, so that a function that hangs from its first case costs one timeout."""
    tried, chosen = set(), []
    for key, job in pending:
        if hang_key(job) in returned or hang_key(job) not in tried:
            tried.add(hang_key(job))
            chosen.append((key, job))
    return chosen


def fitting_batch(jobs: list[Job], seconds_left: float, config: GraderConfig) -> list[Job]:
    """The first jobs whose timeouts fit in `seconds_left`, each given its timeout; the first job alone may be cut
    short to the time left (never below config.min_case_seconds). Empty when not even that fits."""
    batch = []
    for job in jobs:
        timeout = job.timeout or config.case_timeout
        room = seconds_left - CASE_OVERHEAD
        if room < timeout and (batch or room < config.min_case_seconds):
            break
        job.timeout = min(timeout, room)
        batch.append(job)
        seconds_left -= job.timeout + CASE_OVERHEAD
    return batch


HARD_CODED = (
    "Your answer is right on these inputs but not on fresh inputs of the same kind ({category} there): "
    "is it hard-coded? This case counts only when both are right."
)


def with_twin(test: TestResult, case: Case, twin: TestResult | None) -> TestResult:
    """A passing case whose twin (the same check on fresh inputs: its hidden-style result) fails scores 0 and says so;
    otherwise `test` as it is."""
    if twin is None or test.status != "passed" or twin.status == "passed":
        return test
    hard_coded = case.public and twin.category not in (checks.GRADER_ERROR, checks.NOT_RUN)  # never the student's doing
    output = HARD_CODED.format(category=twin.category) if hard_coded else twin.output
    changes = {
        "score": 0.0,
        "status": "failed",
        "output": output,
        "category": twin.category,
        "diagnosis": "",
        "details": twin.details,
    }
    return test.model_copy(update=changes)


def judge_case(
    case: Case,
    plan: tuple[Job, Callable[[Outcome], Verdict]] | Verdict,
    outcome: Outcome | None,
    config: GraderConfig,
    staff_notes: list[str],
) -> TestResult:
    """The verdict on a case from its plan and the worker's outcome; a fault of the grader costs this case only."""
    if isinstance(plan, Verdict):
        return to_test_result(case, plan, None)
    if outcome is None:  # left out of every batch: the time budget ran out first
        reason = f"the submission used up the grading time budget ({config.grade_budget_seconds:g} s for all cases)"
        return to_test_result(case, fail(checks.NOT_RUN, f"{checks.NOT_RUN}: {reason}"), None)
    job, check = plan
    try:
        verdict = check(outcome) if outcome.status == "ok" else outcome_verdict(outcome, job, config)
        if outcome.status == "grader_error":
            staff_notes.append(f"case {case.number}: worker set-up failed: {outcome.error}")
            verdict = dataclasses.replace(verdict, details=f"worker set-up failed: {outcome.error}")
        elif outcome.staff_note:
            staff_notes.append(f"case {case.number}: {outcome.staff_note}")
    except Exception:
        verdict = grader_fault(case, staff_notes)
    test = to_test_result(case, verdict, outcome, job)
    if outcome.left_behind:
        test.behaviour = LEFT_BEHIND
        staff_notes.append(f"case {case.number}: {LEFT_BEHIND} (it was killed; the next case ran in a fresh child)")
    return test


def outcome_verdict(outcome: Outcome, job: Job, config: GraderConfig) -> Verdict:
    """The verdict on a run that did not return normally."""
    target = job.function or "your code"
    messages = {
        "exception": f"{target} raised an exception:\n{fence(outcome.error.strip())}",
        "timeout": (
            f"{target} was not run again: it timed out in case {outcome.skipped_after}"
            if outcome.skipped_after
            else f"{target} did not finish within {job.timeout or config.case_timeout:.3g} s"
            + (f" ({CUT_SHORT})" if outcome.error == CUT_SHORT else "")
        ),
        "memory": (
            f"{target} ran out of memory (a case may use {config.memory_mb} MiB beyond numpy and torch; "
            "an N x N array does not fit)"
        ),
        "crash": f"{target} stopped the case: {outcome.error}",
        "unsupported": (
            f"{target} returned an {outcome.error}; return real numbers: a numpy array, a CPU torch tensor, "
            "a number or a nested list"
        ),
        "grader_error": "The grader could not run this case. Please contact course staff.",
    }
    return fail(OUTCOME_CATEGORIES[outcome.status], messages[outcome.status])


INPUTS_SHOWN_WHOLE = 400  # entries of an input array printed in full (every public input is far smaller)


def python_literal(value: object, indent: str) -> str:
    """An argument as Python source that rebuilds it exactly (every float to its last digit; `np` is numpy)."""
    if isinstance(value, np.ndarray):
        if value.size > INPUTS_SHOWN_WHOLE:
            return (
                f"np.array({np.array2string(value, separator=', ', threshold=50)})"
                f"  # {value.size} entries, printed in part"
            )
        if value.ndim < 2:
            return f"np.array({value.tolist()!r})"
        rows = "".join(f"{indent}    {row!r},\n" for row in value.tolist())
        return f"np.array([\n{rows}{indent}])"
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(item, indent) for item in value) + "]"
    if isinstance(value, dict) and set(value) == {"callable"}:
        return str(value["callable"])
    return repr(value)


def shown_inputs(job: Job | None) -> str:
    """A public case's call as Python source a student can run, with the grader's own functions it passes explained."""
    if job is None or job.recipe != "call" or not job.args:
        return ""
    lines = ["import numpy as np", f"from {job.module} import {job.function}", "", f"{job.function}("]
    lines += [f"    {python_literal(value, '    ')}," for value in job.args]
    lines.append(")")
    helpers = [value["callable"] for value in job.args if isinstance(value, dict) and set(value) == {"callable"}]
    own = grader_callables()
    notes = [
        f"`{name}` is the grader's own: {own[name].__doc__.strip().splitlines()[0]}" for name in helpers if name in own
    ]
    return (
        "\n\nInputs: the call this case makes, to run yourself:\n"
        + fence("\n".join(lines), "python")
        + "".join(f"\n\n{note}" for note in notes)
    )


def to_test_result(case: Case, verdict: Verdict, outcome: Outcome | None, job: Job | None = None) -> TestResult:
    """A case's entry in results.json: details and inputs for public cases, the category alone for hidden ones."""
    diagnosis = verdict.diagnosis if case.public else ""
    if case.public:
        output = verdict.message + (f"\n\nLikely mistake: your output equals {diagnosis}." if diagnosis else "")
        output += shown_inputs(job)
        if outcome is not None and outcome.stdout.strip():
            output += f"\n\nYour code printed:\n{fence(outcome.stdout.strip())}"
    else:
        output = "Passed." if verdict.passed else f"Failed: {verdict.category}."
        if verdict.category in (checks.MISSING, checks.INVALID_LOG, checks.GRADER_ERROR, checks.NOT_RUN):
            output = f"Failed: {verdict.message}"  # says nothing about the hidden inputs
    return TestResult(
        number=case.number,
        name=case.name,
        score=round(case.weight * verdict.credit, 6),
        max_score=case.weight,
        status="passed" if verdict.passed else "failed",
        output=output,
        visibility=case.visibility,
        category=verdict.category,
        diagnosis=diagnosis,
        tags=list(case.tags),
        details=verdict.details,
    )


def problem_scores(tests: Iterable[TestResult]) -> dict[str, tuple[float, float]]:
    """problem -> (score, max score) over the graded cases."""
    totals = {}
    for test in tests:
        problem = test.number.split(".")[0]
        if problem in problem_titles():
            score, top = totals.get(problem, (0.0, 0.0))
            totals[problem] = (score + test.score, top + test.max_score)
    return totals


def summary_table(tests: list[TestResult]) -> str:
    """The per-problem markdown table shown at the top of the results."""
    rows = ["| problem | | score |", "|---|---|---|"]
    for problem, (score, top) in sorted(problem_scores(tests).items()):
        rows.append(f"| {problem} | {problem_titles()[problem]} | {score:g} / {top:g} |")
    total = sum(t.score for t in tests)
    rows.append(f"| | **total** | **{total:g} / {sum(t.max_score for t in tests):g}** |")
    return "\n".join(rows)
