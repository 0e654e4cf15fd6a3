"""`validate` and its mutants: every mutant is a real, compiling change, and the hidden suite catches them."""

import ast
import json
import subprocess
import sys

import pytest

from autograder.checks import Verdict
from autograder.mutants import MODULE_PROBLEMS, mutants_of, original_source
from autograder.registry import Case, all_cases, call
from autograder.secret import InputDraws, submission_digest
from autograder.validate import EQUIVALENT, STUBS, stub_points, stub_problems
from reference import attention as ref
from tests.helpers import ROOT


@pytest.mark.parametrize("module", sorted(MODULE_PROBLEMS))
def test_mutants_are_single_real_changes(module):
    original = original_source(module)
    mutants = mutants_of(module)
    assert len(mutants) >= 10
    assert len({m.id for m in mutants}) == len(mutants)  # ids are unique
    for mutant in mutants:
        assert mutant.source != original
        ast.parse(mutant.source)
        changed = [line for line in mutant.diff(original).splitlines() if line.startswith(("+", "-"))]
        assert 2 <= len(changed) <= 4, mutant.id  # one statement changed


def test_every_equivalent_mutant_exists_and_says_why():
    equivalent = json.loads(EQUIVALENT.read_text())
    ids = {m.id for module in MODULE_PROBLEMS for m in mutants_of(module)}
    assert set(equivalent) <= ids  # no stale entry
    assert all(len(reason) > 10 for reason in equivalent.values())


def test_validate_passes_on_a_sample():
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reference: full marks; student template: zero" in done.stdout
    for problem in "123456":
        assert f"problem {problem}: " in done.stdout
    assert "BELOW" not in done.stdout


def test_function_swaps_are_among_the_mutations():
    operators = {m.id.rsplit(":", 1)[1] for m in mutants_of("attention")} | {
        m.id.rsplit(":", 1)[1] for m in mutants_of("kernel_attention")
    }
    assert {"argmax->argmin", "sin->cos", "cos->sin"} <= operators
    argmin = next(m for m in mutants_of("attention") if m.id.endswith("argmax->argmin"))
    assert "np.argmin(scores" in argmin.source and "np.argmax(scores" not in argmin.source


@pytest.mark.parametrize("secret", [b"one secret " * 4, b"another secret " * 4])
def test_stubs_earn_nothing_outside_the_declared_constants(secret):
    template = ROOT / "student_template"
    earned = stub_points(template, InputDraws(secret, submission_digest(template)))
    assert stub_problems(earned) == []
    declared = {(stub, case.number) for stub, cases in earned.items() for case, _ in cases}
    assert declared == {(STUBS[3], "4.6"), (STUBS[3], "4.7")}  # Var(q^T k) = d: the input is the answer
    assert all(case.constant_answer for cases in earned.values() for case, _ in cases)


def test_the_stub_check_sees_what_twins_hide():
    # Without twins, the homework's W_alpha (a loss of 0) and the empty lambda range (None) pay a stub:
    # the check must report those, or it proves nothing.
    template = ROOT / "student_template"
    cases = [case for case in all_cases() if case.number in ("1.1", "1.14")]
    saved = {case.number: case.twin for case in cases}
    try:
        for case in cases:
            case.twin = None
        found = stub_problems(stub_points(template, InputDraws(b"x" * 40, submission_digest(template))))
    finally:
        for case in cases:
            case.twin = saved[case.number]
    assert any("returning 0 earns 0.5 on case 1.1" in line for line in found)
    assert any("returning None earns 0.5 on case 1.14" in line for line in found)


def builder_with_a_name_error(submission, g):
    """A case builder as a TA might leave it: `expect` used but never imported."""
    q, K, V = g.standard_normal(3), g.standard_normal((4, 3)), g.standard_normal((4, 2))
    return call("attention", "argmax_attention", q, K, V), expect(ref.argmax_attention(q, K, V))  # noqa: F821


def broken_case(number):
    """A hidden case of attention.py whose builder raises NameError: a grader error whatever the submission."""
    return Case(
        number=number,
        name="a case whose builder raises NameError",
        weight=1.0,
        build=builder_with_a_name_error,
        file="attention.py",
    )


def test_a_broken_case_fails_validate_and_shows_its_traceback(monkeypatch, capsys):
    from autograder import grade as grading
    from autograder import validate as validating

    with_broken = [*all_cases(), broken_case("3.99")]
    monkeypatch.setattr(grading, "all_cases", lambda: with_broken)
    monkeypatch.setattr(validating, "all_cases", lambda: with_broken)
    assert validating.validate() == 1
    printed = capsys.readouterr().out
    assert "reference: grader errors in 3.99" in printed and "student_template: grader errors in 3.99" in printed
    assert "GRADER ERROR in case 3.99 (grading reference; student_template;" in printed
    assert "Traceback (most recent call last)" in printed
    assert "NameError: name 'expect' is not defined" in printed


def test_a_mutant_caught_only_by_a_grader_error_survives():
    from autograder.config import GraderConfig
    from autograder.sandbox import WarmWorker
    from autograder.validate import GraderErrors, run_mutants

    errors, config = GraderErrors(), GraderConfig(case_timeout=5.0)
    with WarmWorker(config) as worker:  # every mutant of attention.py meets only cases that fail as grader errors
        report = run_mutants(
            worker,
            config,
            errors=errors,
            modules=["attention"],
            sample=3,
            cases=[broken_case("3.99"), broken_case("4.99")],
        )
    assert report.caught == {}
    assert sum(len(survivors) for survivors in report.survivors.values()) == 3
    [(details, entry)] = errors.found.items()
    assert "NameError" in details and entry["cases"] <= {"3.99", "4.99"} and len(entry["runs"]) == 3


def test_a_check_that_cannot_judge_a_stub_is_a_grader_error():
    from autograder.validate import GraderErrors

    def check_assuming_an_array(outcome):  # None has no .sum(): the check itself fails on the None stub
        return Verdict("passed" if float(outcome.outputs["value"].sum()) else "wrong value", "")

    def build(submission, g):
        return call("attention", "attention_scale", 16), check_assuming_an_array

    fragile = Case(number="4.99", name="a check that cannot judge None", weight=1.0, build=build, file="attention.py")
    template, errors = ROOT / "student_template", GraderErrors()
    earned = stub_points(template, InputDraws(b"x" * 40, submission_digest(template)), errors, cases=[fragile])
    [(details, entry)] = errors.found.items()
    assert "AttributeError" in details and "Traceback (most recent call last)" in details
    # None, and zeros "of the right shape" when the check names no shape (a None too), are what the check cannot judge
    assert entry == {"cases": {"4.99"}, "runs": [f"a stub returning {STUBS[0]}", f"a stub returning {STUBS[2]}"]}
    assert STUBS[0] not in earned and STUBS[2] not in earned
