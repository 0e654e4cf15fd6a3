"""Cases declared with gradescope-utils' decorators: what the registry reads from them, what it refuses, and partial
credit."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from autograder import registry as cases
from autograder.checks import PASSED, WRONG_VALUE, Verdict
from autograder.grade import grade
from autograder.registry import all_cases, rng
from autograder.results import write_results
from tests.helpers import ROOT

HEADER = """
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, partial_credit, tags, visibility, weight

from autograder.registry import add_case, call, case
from autograder.checks import WRONG_VALUE, fail, ok
"""

DECLARED = (
    HEADER
    + '''
@case(public=True, file="attention.py", timeout=3, twin=True)
@number("9.1")
@weight(1.5)
@visibility("after_due_date")
@tags("attention", "worked example")
def worked_example(submission, g):
    """argmax attention on a worked example

    Only the first line is the name.
    """
    return call("attention", "argmax_attention", g.standard_normal(3), np.eye(3), np.eye(3)), None


@case()
@number(9.2)
@weight(2)
def plain(submission, g):
    """a hidden case with the defaults"""
    return ok()


def table_builder(submission, g):
    return ok()


add_case(table_builder, "9.3", "a case from a table row", 0.5, tags=("table",), file="kernel_attention.py")


@case(constant_answer="a stub's None is right here")
@number("9.4")
@partial_credit(2.0)
def halves(submission, g, set_score=None):
    """a partial-credit case scored in its builder"""
    set_score(1.0)
    return fail(WRONG_VALUE, "half of it")
'''
)

# A partial-credit case scored in its check, on the reference's softmax_attention: the expected value is computed here,
# independently, and its first row is spoilt, so that exactly 3 of the 4 rows can match.
SCORED_BY_ROWS = (
    HEADER
    + '''
def softmax_attention(Q, K, V):
    scores = Q @ K.T / np.sqrt(K.shape[1])
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ V


@case(public=True, file="attention.py")
@number("9.5")
@tags("softmax")
@partial_credit(2.0)
def rows_right(submission, g, set_score=None):
    """softmax attention, a quarter of the points per right row"""
    Q, K, V = g.standard_normal((4, 3)), g.standard_normal((5, 3)), g.standard_normal((5, 2))
    expected = softmax_attention(Q, K, V)
    expected[0] += 1.0

    def check(outcome):
        right = np.isclose(outcome.outputs["value"], expected).all(axis=1)
        set_score(2.0 * right.mean())
        return ok("every row right") if right.all() else fail(WRONG_VALUE, f"{int((~right).sum())} of 4 rows wrong")
    return call("attention", "softmax_attention", Q, K, V), check


@case()
@number("9.6")
@partial_credit(1.0)
def claims_a_pass(submission, g, set_score=None):
    """a check that passes but gives itself half the points"""
    set_score(0.5)
    return ok("fine")
'''
)


@pytest.fixture
def scratch_registry(monkeypatch):
    """An empty registry for the test's own cases; the real one (every case module imported first) comes back after."""
    all_cases()
    monkeypatch.setattr(cases, "_REGISTRY", [])
    return cases._REGISTRY


def declare(tmp_path, source, name="scratch_cases"):
    """Import `source` as a fresh module, as a TA's case module would be: its cases go to the registry."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"{name}_{id(path)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_registry_reads_what_the_decorators_declare(tmp_path, scratch_registry):
    module = declare(tmp_path, DECLARED)
    by_number = {case.number: case for case in scratch_registry}
    first = by_number["9.1"]
    assert (first.name, first.weight, first.visibility, first.tags) == (
        "argmax attention on a worked example",
        1.5,
        "after_due_date",
        ("attention", "worked example"),
    )
    assert (first.public, first.file, first.timeout, first.build, first.twin) == (
        True,
        "attention.py",
        3,
        module.worked_example,
        module.worked_example,
    )
    plain = by_number["9.2"]
    assert (plain.name, plain.weight, plain.visibility, plain.tags, plain.public, plain.twin) == (
        "a hidden case with the defaults",
        2.0,
        "visible",
        (),
        False,
        None,
    )
    assert isinstance(plain.weight, float)  # @weight(2): results.json says 2.0, as for every other case
    table = by_number["9.3"]
    assert (table.name, table.weight, table.tags, table.file) == (
        "a case from a table row",
        0.5,
        ("table",),
        "kernel_attention.py",
    )
    halves = by_number["9.4"]
    assert (halves.name, halves.weight, halves.constant_answer) == (
        "a partial-credit case scored in its builder",
        2.0,
        "a stub's None is right here",
    )


def test_partial_credit_reaches_the_verdict_from_the_builder(tmp_path, scratch_registry):
    declare(tmp_path, DECLARED)
    (halves,) = [case for case in scratch_registry if case.number == "9.4"]
    verdict = halves.build(None, rng("9.4"))
    assert isinstance(verdict, Verdict) and (verdict.category, verdict.credit) == (WRONG_VALUE, 0.5)
    assert halves.build.__module__ == halves.build.__wrapped__.__module__  # frozen.py tells case modules apart by it


@pytest.mark.parametrize(
    "declaration, complaint",
    [
        ('@case()\n@weight(1.0)\ndef f(submission, g):\n    """no number"""', "needs @number and @weight"),
        ('@case()\n@number("9.7")\ndef f(submission, g):\n    """no weight"""', "needs @number and @weight"),
        (
            '@number("9.7")\n@weight(1.0)\n@case()\ndef f(submission, g):\n    """@case below the others"""',
            "needs @number and @weight",
        ),
        ('@case()\n@number("9.7")\n@weight(1.0)\ndef f(submission, g):\n    return None', "docstring is its name"),
        ('@case()\n@number("9.a")\n@weight(1.0)\ndef f(submission, g):\n    """a bad number"""', "dotted integers"),
        (
            '@case()\n@number("9.7")\n@weight(-1)\ndef f(submission, g):\n    """a negative weight"""',
            "not a number of points",
        ),
        (
            (
                '@case()\n@number("9.7")\n@weight(1.0)\n@visibility("secret")\n'
                'def f(submission, g):\n    """a bad visibility"""'
            ),
            "none of visible, hidden",
        ),
        (
            (
                '@case()\n@number("9.7")\n@weight(1.0)\n'
                'def f(submission, g, set_score=None):\n    """set_score, no @partial_credit"""'
            ),
            "only @partial_credit passes",
        ),
    ],
)
def test_a_case_declared_wrong_is_refused_at_import(tmp_path, scratch_registry, declaration, complaint):
    with pytest.raises(ValueError, match=complaint):
        declare(tmp_path, HEADER + "\n\n" + declaration + "\n")
    assert scratch_registry == []


def test_two_cases_may_not_share_a_number(tmp_path, scratch_registry):
    twice = '@case()\n@number("9.7")\n@weight(1.0)\ndef {0}(submission, g):\n    """{0}"""\n\n\n'
    with pytest.raises(ValueError, match="two cases numbered 9.7"):
        declare(tmp_path, HEADER + twice.format("first") + twice.format("second"))


def test_partial_credit_and_tags_reach_results_json(tmp_path, scratch_registry):
    declare(tmp_path, SCORED_BY_ROWS)
    results = grade(ROOT / "reference", cases=list(scratch_registry))
    write_results(results, tmp_path / "results.json")
    by_number = {test["number"]: test for test in json.loads((tmp_path / "results.json").read_text())["tests"]}
    rows = by_number["9.5"]
    assert (rows["score"], rows["max_score"], rows["status"], rows["tags"]) == (1.5, 2.0, "failed", ["softmax"])
    assert "1 of 4 rows wrong" in rows["output"]
    claimed = by_number["9.6"]  # gradescope-utils fails a test that sets fewer points than its weight
    assert (claimed["score"], claimed["max_score"], claimed["status"]) == (0.5, 1.0, "failed")
    assert "tags" not in claimed  # none declared: the key is left out, as before tags existed


def test_a_partial_credit_check_that_sets_no_score_is_all_or_nothing(tmp_path, scratch_registry):
    declare(
        tmp_path,
        HEADER
        + '''
@case()
@number("9.8")
@partial_credit(3.0)
def silent(submission, g, set_score=None):
    """never calls set_score"""
    return call("attention", "softmax_attention", np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1))), \
lambda outcome: ok()
''',
    )
    (silent,) = scratch_registry
    job, check = silent.build(None, rng("9.8"))
    assert (job.function, check(None).category, check(None).credit) == ("softmax_attention", PASSED, 1.0)


def test_the_shipped_case_modules_use_the_decorators():
    # The hand-written cases of problem 2 read their names from docstrings; nothing is declared the old way.
    by_number = {case.number: case for case in all_cases()}
    assert (
        by_number["2.7"].name
        == by_number["2.7"].build.__doc__
        == ("PytorchTransformer has the layers the spec names (Km, Qm, Vm, pos)")
    )
    assert by_number["2.10"].build.__number__ == "2.10" and by_number["2.10"].build.__weight__ == 1.0
    modules = {sys.modules[case.build.__module__].__file__ for case in by_number.values()}
    assert len(modules) >= 5
    for path in modules:
        assert not re.search(r"\bcase\((?:number|\")", Path(path).read_text()), path


def test_tags_survive_freezing_into_the_students_bundle(tmp_path, scratch_registry):
    from autograder.frozen import register_frozen_cases, write_frozen

    declare(
        tmp_path,
        HEADER
        + '''
from autograder.checks import expect


@case(public=True, file="attention.py")
@number("9.9")
@weight(0.5)
@tags("frozen", "public")
def shipped(submission, g):
    """a public case frozen to data"""
    return call("attention", "dot_product_variance", 16), expect(16.0)
''',
    )
    write_frozen(list(scratch_registry), tmp_path / "public")
    scratch_registry.clear()
    register_frozen_cases(tmp_path / "public")
    (thawed,) = scratch_registry
    assert (thawed.number, thawed.name, thawed.weight, thawed.tags) == (
        "9.9",
        "a public case frozen to data",
        0.5,
        ("frozen", "public"),
    )
