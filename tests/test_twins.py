"""Hidden inputs drawn per submission, and public cases that count only with their twin on fresh inputs.

What is checked: the same files draw the same inputs, other files or another secret draw others;
links are never followed; the worker gets inputs, never the secret; every draw is well-conditioned
(a float32 implementation, numerically unlike the reference, passes every hidden case and twin under
30 secrets, and the template fails them); a table of the public answers earns nothing.
"""

import os
import shutil
import stat

import numpy as np
import pytest

from autograder.checks import Verdict
from autograder.grade import HARD_CODED, grade, plan_case
from autograder.homework import homework_module
from autograder.registry import all_cases, public_cases
from autograder.sandbox import Outcome, WarmWorker
from autograder.secret import InputDraws, SecretUnavailable, load_secret, submission_digest
from autograder.submission import Submission
from tests.corpus import make_submission
from tests.helpers import ROOT
from tests.lookup_table import ITEM, lookup_files

resolve = homework_module("mistakes").resolve

SOLUTION_FILES = ("purification.py", "attention.py", "kernel_attention.py", "transformer.py", "submission_log.json")
SECRET = b"s" * 40
CALL_PROBLEMS = "13456"  # problems whose cases call a plain function (problem 2's need torch in the worker)


def copy_reference(folder):
    folder.mkdir(parents=True)
    for name in SOLUTION_FILES:
        shutil.copy(ROOT / "reference" / name, folder / name)
    return folder


def hidden_args(root, secret=SECRET, number="1.5", twin=False):
    """The arguments a hidden case (or a public case's twin) gets for the submission at `root`."""
    case = next(c for c in all_cases() if c.number == number)
    draws = InputDraws(secret, submission_digest(root))
    job, _ = plan_case(case, Submission(root), None, [], draws, twin=twin)
    return job


def same_args(first, second):
    return len(first.args) == len(second.args) and all(
        np.array_equal(a, b) for a, b in zip(first.args, second.args, strict=True)
    )


def test_the_same_files_draw_the_same_inputs_and_other_files_others(tmp_path):
    one, two = copy_reference(tmp_path / "one"), copy_reference(tmp_path / "two")
    assert same_args(hidden_args(one), hidden_args(two))  # a regrade, or the same files uploaded again
    assert same_args(hidden_args(one, number="4.1", twin=True), hidden_args(two, number="4.1", twin=True))
    with open(two / "attention.py", "a") as source:
        source.write("# one more comment\n")
    assert not same_args(hidden_args(one), hidden_args(two))
    assert not same_args(hidden_args(one), hidden_args(one, secret=b"t" * 40))
    other_secret = hidden_args(one, number="4.1", twin=True, secret=b"t" * 40)
    assert not same_args(hidden_args(one, number="4.1", twin=True), other_secret)


def test_public_inputs_stay_fixed_and_the_worker_never_gets_the_secret(tmp_path):
    one = copy_reference(tmp_path / "one")
    public = next(c for c in public_cases() if c.number == "4.1")
    plans = [plan_case(public, Submission(one), None, [], InputDraws(secret, b"")) for secret in (SECRET, b"t" * 40)]
    assert same_args(plans[0][0], plans[1][0])
    jobs = [hidden_args(one, secret) for secret in (SECRET, b"t" * 40)]
    assert jobs[0].seed == jobs[1].seed  # the worker's own seed does not depend on the secret
    for job in jobs:
        assert all(isinstance(arg, (np.ndarray, float, int, list, dict)) for arg in job.args)
        assert SECRET not in repr(job).encode() and b"t" * 40 not in repr(job).encode()


def test_links_are_never_followed_and_a_pipe_never_blocks(tmp_path):
    one = copy_reference(tmp_path / "one")
    whole = submission_digest(one)
    (one / "attention.py").unlink()
    reference_less = submission_digest(one)
    assert reference_less != whole
    os.symlink(ROOT / "reference" / "attention.py", one / "attention.py")  # a link counts as absent
    assert submission_digest(one) == reference_less
    (one / "attention.py").unlink()
    os.mkfifo(one / "attention.py")  # would block a plain open
    assert submission_digest(one) == reference_less


def test_secret_file_is_made_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("HW9_SECRET", raising=False)
    path = tmp_path / "secret.key"
    first = load_secret(path)
    assert len(first) >= 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == first
    assert load_secret(tmp_path / "other.key") != first
    monkeypatch.setenv("HW9_SECRET", "e" * 40)
    assert load_secret(path) == b"e" * 40
    monkeypatch.delenv("HW9_SECRET")
    os.symlink(tmp_path / "elsewhere", tmp_path / "linked.key")
    with pytest.raises(SecretUnavailable):
        load_secret(tmp_path / "linked.key")


def import_folder(folder, name):
    """Import `folder/name.py` under a name of its own."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"twins_{folder.name}_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def passes_in_process(plan, modules):
    """Run a plain-call plan's function in this process (these are trusted files) and judge it as the grader would."""
    if isinstance(plan, Verdict):
        return plan.passed
    job, check = plan
    try:
        value = getattr(modules[job.module], job.function)(*[resolve(arg) for arg in job.args])
    except NotImplementedError:
        return False
    value = None if value is None else np.asarray(value, dtype=np.float64)
    return check(Outcome("ok", outputs={"value": value}, kinds={"value": "ndarray"})).passed


def test_every_draw_is_well_conditioned(tmp_path):
    float32 = make_submission("float32_everywhere", tmp_path)  # the reference computed in float32
    folders = {"float32": float32, "template": ROOT / "student_template"}
    modules = {
        kind: {name: import_folder(folder, name) for name in ("purification", "attention", "kernel_attention")}
        for kind, folder in folders.items()
    }
    # The two N = 50000 cases are left out for speed: their inputs are plain normal draws, as in 5.10 and 6.9.
    cases = [case for case in all_cases() if case.problem in CALL_PROBLEMS and "50000" not in case.name]
    submission = Submission(float32)
    checked = 0
    for index in range(30):
        draws = InputDraws(f"secret {index}".encode() * 4, submission_digest(float32))
        for case in cases:
            for twin in [False, True] if callable(case.twin) else [False]:
                if case.public and not twin:
                    continue
                plan = plan_case(case, submission, None, [], draws, twin=twin)
                assert passes_in_process(plan, modules["float32"]), (index, case.number, twin)
                assert not passes_in_process(plan, modules["template"]), (index, case.number, twin)
                checked += 1
    assert checked >= 30 * 40


def test_a_lookup_table_of_the_public_answers_earns_nothing(tmp_path, monkeypatch):
    for name, text in lookup_files().items():  # the item holds today's public answers
        assert (ITEM / name).read_text() == text, f"{name}: run python -m tests.lookup_table"
    monkeypatch.setenv("HW9_SECRET", "f" * 40)
    results = grade(make_submission("lookup_table", tmp_path))
    assert results.score == 0
    hard_coded = {t.number for t in results.tests if t.output.startswith(HARD_CODED.split("(")[0])}
    table_cases = {c.number for c in public_cases() if c.twin is not None and c.weight > 0}
    assert hard_coded == table_cases and len(hard_coded) >= 20  # the table hit every public case; the twins caught it


def test_problem_2_draws_are_well_conditioned(monkeypatch):
    # The reference's PytorchTransformer computes in float32 in the worker, the expected values in float64 here.
    cases = [case for case in all_cases() if case.number in {f"2.{k}" for k in range(1, 7)}]
    with WarmWorker() as worker:
        for index in range(30):
            monkeypatch.setenv("HW9_SECRET", f"secret {index} " * 4)
            tests = grade(ROOT / "reference", worker=worker, cases=cases).tests
            failed = [t.number for t in tests if t.max_score > 0 and t.status != "passed"]
            assert failed == [] and len([t for t in tests if t.max_score > 0]) == 6, index


def test_a_hidden_case_standing_as_a_twin_makes_the_same_check(tmp_path):
    # A public case may name a hidden sibling as its twin (no extra run): same problem and function, fresh inputs.
    by_number = {case.number: case for case in all_cases()}
    reference, draws = Submission(ROOT / "reference"), InputDraws(SECRET, b"")
    siblings = [case for case in all_cases() if isinstance(case.twin, str)]
    assert len(siblings) >= 8
    for case in siblings:
        sibling = by_number[case.twin]
        assert case.public and not sibling.public and sibling.twin is None and sibling.problem == case.problem
        own, twin = plan_case(case, reference, None, [], draws), plan_case(sibling, reference, None, [], draws)
        assert own[0].function == twin[0].function and type(own[1]) is type(twin[1]), case.number


@pytest.mark.parametrize("number", ["5.9", "6.8"])
def test_big_cases_move_their_values_per_submission_and_the_answer_follows_exactly(number):
    # Their rows are drawn once per process; each submission's V is V * a + b, and so is the answer.
    from autograder.homework import homework_module
    from reference import kernel_attention as ref

    GRADER_CALLABLES = homework_module("grader_callables").GRADER_CALLABLES

    case = next(c for c in all_cases() if c.number == number)
    reference = Submission(ROOT / "reference")
    plans = [plan_case(case, reference, None, [], InputDraws(secret, b"")) for secret in (SECRET, b"t" * 40)]
    (job, check), (other, _) = plans
    assert not np.array_equal(job.args[2], other.args[2])  # another submission, other values
    Q, K, V = job.args[:3]
    direct = getattr(ref, job.function)(Q, K, V, GRADER_CALLABLES["elu_plus_one"])
    assert np.allclose(check.expected, direct, rtol=1e-12, atol=1e-12)
