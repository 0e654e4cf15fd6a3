"""`validate` and its mutants: every mutant is a real, compiling change, and the hidden suite catches them."""
import ast
import json
import subprocess
import sys

import pytest

from autograder.registry import all_cases
from autograder.mutants import MODULE_PROBLEMS, mutants_of, original_source
from autograder.secret import InputDraws, submission_digest
from autograder.validate import EQUIVALENT, STUBS, stub_points, stub_problems
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
    done = subprocess.run([sys.executable, "-m", "autograder", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reference: full marks; student template: zero" in done.stdout
    for problem in "123456":
        assert f"problem {problem}: " in done.stdout
    assert "BELOW" not in done.stdout


def test_function_swaps_are_among_the_mutations():
    operators = {m.id.rsplit(":", 1)[1] for m in mutants_of("attention")} | {m.id.rsplit(":", 1)[1] for m in mutants_of("kernel_attention")}
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

