"""`python -m autograder validate`: reference full marks, template and stubs zero, the hidden suite catches mutants."""
import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.checks import GRADER_ERROR, Expect, FeatureGram, Verdict
from autograder.config import GraderConfig
from autograder.grade import grade, plan_case
from autograder.homework import PACKAGE, REFERENCE, TEMPLATE, homework_path, manifest
from autograder.log_file import LOG_NAME
from autograder.mutants import MODULE_PROBLEMS, mutants_of, original_source
from autograder.registry import all_cases, problem_points, problem_titles
from autograder.sandbox import Outcome, WarmWorker
from autograder.secret import draws_for
from autograder.submission import Submission

EQUIVALENT = homework_path(manifest().mutants.equivalent if manifest().mutants else "equivalent_mutants.json")  # mutant id -> why no test can tell it apart
TARGET = 0.95
SAMPLE_PER_MODULE = 8


@dataclass
class MutantReport:
    """Per problem: caught and survived mutants (equivalent ones set aside)."""

    caught: dict = field(default_factory=dict)
    survivors: dict = field(default_factory=dict)
    equivalent: int = 0
    stale_equivalents: list = field(default_factory=list)

    def rate(self, problem):
        caught, survived = self.caught.get(problem, 0), len(self.survivors.get(problem, []))
        return caught / (caught + survived) if caught + survived else 1.0


def check_reference_and_template(worker, config):
    """Problems found: the reference must score full marks, the template zero, with no grader error."""
    problems = []
    for folder, expected in ((REFERENCE, sum(problem_points().values())), (TEMPLATE, 0)):
        results = grade(folder, config, worker=worker)
        folder = folder.name
        if results.score != expected:
            problems.append(f"{folder} scores {results.score:g}, expected {expected}")
        errors = [t.number for t in results.tests if t.category == GRADER_ERROR]
        if errors:
            problems.append(f"{folder}: grader errors in {', '.join(errors)}")
    return problems


# Stub submissions: every function returns the same thing whatever it is given.
STUBS = ("None", "0", "zeros of the right shape", "its first input unchanged")
WEIGHT_STUB_SHAPES = {  # a weights function's stub returns these matrices (zeros, or ones on the diagonal)
    "content": {"Km": (3, 3), "Qm": (3, 3), "Vm": (3, 3)},
    "position": {"Km": (7, 7), "Qm": (7, 7), "Vm": (7, 3), "pos": (4, 4)},
}


def right_shape(check):
    """The shape of the value a case expects (None when it expects None or checks something else)."""
    if isinstance(check, Expect) and check.expected is not None:
        return np.shape(check.expected)
    if isinstance(check, FeatureGram):
        return (check.X.shape[0], check.widest)
    return None


def stub_outputs(stub, job, check):
    """(outputs, kinds) as the worker would report them for `job` when the function called is `stub`."""
    if job.recipe == "call" and not job.args and stub in STUBS[2:]:  # a weights function: a dict of matrices
        shapes = WEIGHT_STUB_SHAPES["position" if "position" in job.function else "content"]
        make = np.zeros if stub == STUBS[2] else (lambda shape: np.eye(*shape))
        return {f"dict:{name}": make(shape) for name, shape in shapes.items()}, {"value": "dict"}
    value = None
    if stub == STUBS[1]:
        value = np.asarray(0.0)
    elif stub == STUBS[2] and right_shape(check) is not None:
        value = np.zeros(right_shape(check))
    elif stub == STUBS[3] and job.args:
        first = job.args[-1] if job.recipe == "torch_forward" else job.args[0]  # a model's input is the sequence
        plain = isinstance(first, (np.ndarray, list, int, float)) and job.recipe != "torch_attributes"
        value = np.asarray(first, dtype=np.float64) if plain else None
    return {"value": value}, {"value": "None" if value is None else "numpy.ndarray (float64)"}


def stub_passes(plan, stub):
    """Does a stub pass this plan? A check that cannot judge a stub's output counts as a failure."""
    if isinstance(plan, Verdict):
        return plan.passed
    job, check = plan
    outputs, kinds = stub_outputs(stub, job, check)
    try:
        return check(Outcome("ok", outputs=outputs, kinds=kinds)).passed
    except Exception:
        return False


def stub_points(root=TEMPLATE, draws=None):
    """stub -> [(case, points)] it earns, twins included, graded on the template's files (no log)."""
    submission = Submission(root)
    draws = draws or draws_for(root)[0]
    earned, notes = {}, []
    for case in all_cases():
        if case.weight == 0:
            continue
        plan = plan_case(case, submission, None, notes, draws)
        twin = None
        if isinstance(case.twin, str):
            twin = plan_case(next(c for c in all_cases() if c.number == case.twin), submission, None, notes, draws)
        elif case.twin:
            twin = plan_case(case, submission, None, notes, draws, twin=True)
        for stub in STUBS:
            if stub_passes(plan, stub) and (twin is None or stub_passes(twin, stub)):
                earned.setdefault(stub, []).append((case, case.weight))
    assert not notes, notes  # plans of the template never fail
    return earned


def stub_problems(earned):
    """Lines naming the points a stub earns on a case that does not declare its answer constant."""
    return [f"a stub returning {stub} earns {points:g} on case {case.number} ({case.name})"
            for stub, cases in earned.items() for case, points in cases if not case.constant_answer]


def run_mutants(worker, config, everything=False, seed=0):
    """Grade mutants of every reference module on their own problems' cases; return a MutantReport."""
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    report, rng = MutantReport(), random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="hw9-mutants-") as scratch:
        for module in MODULE_PROBLEMS:
            every = mutants_of(module)
            mutants = [m for m in every if m.id not in equivalent]
            report.equivalent += len(every) - len(mutants)
            report.stale_equivalents += [i for i in equivalent if i.startswith(module + ":") and i not in {m.id for m in every}]
            if not everything:
                mutants = rng.sample(mutants, min(SAMPLE_PER_MODULE, len(mutants)))
            original = original_source(module)
            for mutant in mutants:
                folder = Path(scratch) / mutant.id.replace(":", "_")
                shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", *manifest().mutants.left_out))
                (folder / f"{module}.py").write_text(mutant.source)
                cases = [c for c in all_cases() if c.problem == mutant.problem]
                if module in manifest().mutants.without_log:  # judged alone: the reference's log would be graded instead
                    (folder / LOG_NAME).unlink()
                    left_out = {f"{PACKAGE}.{name}" for name in manifest().mutants.without_log[module]}
                    cases = [c for c in cases if c.build.__module__ not in left_out]
                results = grade(folder, config, worker=worker, cases=cases)
                if any(t.status == "failed" and t.max_score > 0 for t in results.tests):
                    report.caught[mutant.problem] = report.caught.get(mutant.problem, 0) + 1
                else:
                    report.survivors.setdefault(mutant.problem, []).append((mutant, mutant.diff(original)))
                shutil.rmtree(folder)
    return report


def validate(everything=False):
    """Run every check, print the report; return the exit status (0 when everything holds)."""
    config = GraderConfig(case_timeout=5.0)
    with WarmWorker(config) as worker:
        problems = check_reference_and_template(worker, config)
        report = run_mutants(worker, config, everything)
    print(*(problems or ["reference: full marks; student template: zero, with no grader error"]), sep="\n")
    earned = stub_points()
    stubs = stub_problems(earned)
    problems += stubs
    print(*(stubs or [f"stubs ({', '.join(STUBS)}): no points outside the declared constants"]), sep="\n")
    for stub, cases in earned.items():
        for case, points in cases:
            if case.constant_answer:
                print(f"  declared constant: a stub returning {stub} earns {points:g} on {case.number}: "
                      f"{case.constant_answer}")
    print(f"\nmutants ({'all' if everything else f'a sample of {SAMPLE_PER_MODULE} per module'}; {report.equivalent} marked equivalent in {EQUIVALENT.name})")
    if report.stale_equivalents:
        print(f"  {len(report.stale_equivalents)} entries of {EQUIVALENT.name} match no mutant any more: {', '.join(report.stale_equivalents)}")
    shown = set()
    for problem in sorted(problem_titles()):
        caught, survivors = report.caught.get(problem, 0), report.survivors.get(problem, [])
        status = "ok" if report.rate(problem) >= TARGET else f"BELOW {TARGET:.0%}"
        print(f"  problem {problem}: {caught} of {caught + len(survivors)} caught ({report.rate(problem):.0%}) {status}")
    for problem in sorted(report.survivors):
        for mutant, diff in report.survivors[problem]:
            if mutant.id not in shown:
                shown.add(mutant.id)
                print(f"\nsurvivor {mutant.id}\n{diff}")
    below = [p for p in problem_titles() if report.rate(p) < TARGET]
    return 1 if problems or below else 0
