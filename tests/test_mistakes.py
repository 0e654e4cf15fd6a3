"""Feedback that diagnoses: each catalogued mistake is recognised where it is made, never on a correct submission;
failing weights are explained.

Each fixture is the reference with a one-line patch that makes exactly that mistake; it is
graded on the visible case that should recognise it.
"""

import html
import json
import re
import shutil

import numpy as np
import pytest

from autograder.grade import grade
from autograder.homework import homework_module
from autograder.registry import all_cases, problem_points
from autograder.sandbox import WarmWorker
from tests.helpers import ROOT

problem2 = homework_module("cases.problem2")
FORWARD_MISTAKES, POSITIONS_ADDED, judge_weights = (
    problem2.FORWARD_MISTAKES,
    problem2.POSITIONS_ADDED,
    problem2.judge_weights,
)
mistakes = homework_module("mistakes")
CATALOGUE, GRAM_MISTAKES = mistakes.CATALOGUE, mistakes.GRAM_MISTAKES

FIXTURES = {
    # (function, mistake): (visible case, file, old text, new text)
    ("reconstruction_loss", "norm_not_squared"): (
        "1.2",
        "purification.py",
        "float(np.sum(residual**2))",
        "float(np.sqrt(np.sum(residual**2)))",
    ),
    ("regularization_loss", "norm_not_squared"): (
        "1.3",
        "purification.py",
        "float(np.sum(np.asarray(W) ** 2))",
        "float(np.sqrt(np.sum(np.asarray(W) ** 2)))",
    ),
    ("optimal_purifier", "shrink_not_squared"): (
        "1.7",
        "purification.py",
        "sigma_full**2 / (sigma_full**2 + lam)",
        "sigma_full / (sigma_full + lam)",
    ),
    ("optimal_purifier", "shrink_complement"): (
        "1.7",
        "purification.py",
        "sigma_full**2 / (sigma_full**2 + lam)",
        "lam / (sigma_full**2 + lam)",
    ),
    ("optimal_purifier", "lambda_times_n"): (
        "1.7",
        "purification.py",
        "sigma_full**2 / (sigma_full**2 + lam)",
        "sigma_full**2 / (sigma_full**2 + X.shape[1] * lam)",
    ),
    ("optimal_purifier", "lambda_times_2n"): (
        "1.7",
        "purification.py",
        "sigma_full**2 / (sigma_full**2 + lam)",
        "sigma_full**2 / (sigma_full**2 + 2 * X.shape[1] * lam)",
    ),
    ("argmax_attention", "returns_key"): ("3.1", "attention.py", "return V[best]", "return K[best]"),
    ("argmax_attention", "argmin"): ("3.1", "attention.py", "np.argmax(scores, axis=-1)", "np.argmin(scores, axis=-1)"),
    ("softmax_attention", "no_scaling"): ("4.1", "attention.py", "Q @ K.T / math.sqrt(d)", "Q @ K.T"),
    ("softmax_attention", "scaled_by_d"): ("4.1", "attention.py", "Q @ K.T / math.sqrt(d)", "Q @ K.T / d"),
    ("softmax_attention", "softmax_over_queries"): (
        "4.1",
        "attention.py",
        "return softmax(scores) @ V",
        "return softmax(scores, axis=0) @ V",
    ),
    ("dot_product_mean", "mu_not_squared"): (
        "4.4",
        "attention.py",
        "float(np.sum(mu_vec**2))",
        "float(np.sum(mu_vec))",
    ),
    ("dot_product_mean", "not_summed"): ("4.4", "attention.py", "float(np.sum(mu_vec**2))", "float(mu_vec[0] ** 2)"),
    ("dot_product_variance", "standard_deviation"): ("4.6", "attention.py", "return float(d)", "return math.sqrt(d)"),
    ("attention_scale", "inverse"): ("4.8", "attention.py", "return math.sqrt(d)", "return 1 / math.sqrt(d)"),
    ("attention_scale", "variance"): ("4.8", "attention.py", "return math.sqrt(d)", "return float(d)"),
    ("softmax_similarity", "no_scaling"): (
        "5.1",
        "kernel_attention.py",
        "np.exp(q @ k / math.sqrt(q.shape[-1]))",
        "np.exp(q @ k)",
    ),
    ("quadratic_kernel_similarity", "not_squared"): (
        "5.2",
        "kernel_attention.py",
        "float((q @ k + 1.0) ** 2)",
        "float(q @ k + 1.0)",
    ),
    ("quadratic_kernel_similarity", "no_constant"): (
        "5.2",
        "kernel_attention.py",
        "float((q @ k + 1.0) ** 2)",
        "float((q @ k) ** 2)",
    ),
    ("similarity_attention", "not_normalised"): (
        "5.3",
        "kernel_attention.py",
        "return (A @ V) / A.sum(axis=1, keepdims=True)  # (N, M)",
        "return A @ V",
    ),
    ("quadratic_feature_map", "no_sqrt2"): ("5.5", "kernel_attention.py", "math.sqrt(2.0) * X", "X"),
    ("quadratic_feature_map", "no_constant"): (
        "5.5",
        "kernel_attention.py",
        "[ones, math.sqrt(2.0) * X, outer]",
        "[0 * ones, math.sqrt(2.0) * X, outer]",
    ),
    ("kernel_attention", "not_normalised"): (
        "5.7",
        "kernel_attention.py",
        "return (phi_Q @ S) / (phi_Q @ Z)[:, None]",
        "return phi_Q @ S",
    ),
    ("random_feature_map", "cosines_first"): (
        "6.1",
        "kernel_attention.py",
        "[np.sin(projections), np.cos(projections)]",
        "[np.cos(projections), np.sin(projections)]",
    ),
    ("random_feature_map", "no_sqrt_R"): (
        "6.1",
        "kernel_attention.py",
        "math.sqrt(1.0 / R) * np.concatenate",
        "np.concatenate",
    ),
    ("softmax_random_feature_map", "no_norm_factor"): (
        "6.3",
        "kernel_attention.py",
        "return scale * random_feature_map(X, W)",
        "return random_feature_map(X, W)",
    ),
    ("softmax_random_feature_map", "sigma_one"): (
        "6.3",
        "kernel_attention.py",
        "/ (2.0 * sigma2))  # (N, 1)",
        "/ 2.0)",
    ),
    ("causal_kernel_attention", "excludes_diagonal"): (
        "6.5",
        "kernel_attention.py",
        "np.tril(q @ k.T)",
        "np.tril(q @ k.T, -1)",
    ),
    ("causal_kernel_attention", "not_causal"): ("6.5", "kernel_attention.py", "np.tril(q @ k.T)", "(q @ k.T)"),
    ("PytorchTransformer", "no_scaling"): (
        "2.1",
        "transformer.py",
        "softmax(Q @ K.T / math.sqrt(self.qk_dim)",
        "softmax(Q @ K.T",
    ),
    ("attention_by_position", "positions_added"): (
        "2.9",
        "transformer.py",
        "pos = np.eye(4)  # (max_len=4, p=4)\n    Km = np.zeros((7, 1))",
        "pos = np.eye(4)[:, :3]\n"
        "    return {'Km': np.ones((3, 1)), 'Qm': np.ones((3, 1)), 'Vm': np.eye(3), 'pos': pos}\n"
        "    Km = np.zeros((7, 1))",
    ),
    ("PytorchTransformer", "scaled_by_d"): (
        "2.1",
        "transformer.py",
        "softmax(Q @ K.T / math.sqrt(self.qk_dim)",
        "softmax(Q @ K.T / self.qk_dim",
    ),
}
NOT_RECOGNISABLE_ON_VISIBLE_INPUTS = {
    # mistakes whose output equals the right answer on every visible case (they are caught by hidden cases)
    ("purification_loss", "no_regularization"): "purification_loss has no visible case",
    ("purification_loss", "lambda_times_n"): "purification_loss has no visible case",
    ("purification_loss", "lambda_times_2n"): "purification_loss has no visible case",
    ("purifier_lambda_range", "sigma_not_squared"): "on 1.11's singular values the mistake gives an empty range (None)",
}
CASES = {case.number: case for case in all_cases()}


def catalogued():
    """(function, mistake name, words) of every catalogued mistake, the forward pass's and the Gram matrix's
    included."""
    entries = [
        (function, mistake.name, mistake.words) for function, mistakes in CATALOGUE.items() for mistake in mistakes
    ]
    entries += [("quadratic_feature_map", mistake.name, mistake.words) for mistake in GRAM_MISTAKES]
    entries += [("PytorchTransformer", name, words) for name, (words, _) in FORWARD_MISTAKES.items()]
    entries += [("attention_by_position", "positions_added", POSITIONS_ADDED)]
    return entries


def make_fixture(folder, file, old, new):
    """The reference in `folder`, with one patch: the submission that makes one mistake."""
    shutil.copytree(
        ROOT / "reference", folder, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "notebook_helpers.py")
    )
    (folder / file).write_text((folder / file).read_text().replace(old, new))
    if file == "transformer.py":  # the reference's log would be graded in place of the mistaken transformer.py
        (folder / "submission_log.json").unlink()
    return folder


@pytest.fixture(scope="module")
def worker():
    with WarmWorker() as warm:
        yield warm


def test_every_catalogued_mistake_has_a_fixture():
    keys = {(function, name) for function, name, _ in catalogued()}
    assert keys == set(FIXTURES) | set(NOT_RECOGNISABLE_ON_VISIBLE_INPUTS)
    assert len(FIXTURES) >= 25


@pytest.mark.parametrize(
    "function, name, words", [entry for entry in catalogued() if entry[:2] in FIXTURES], ids=lambda v: str(v)[:30]
)
def test_mistake_is_recognised_on_a_submission_that_makes_it(worker, tmp_path, function, name, words):
    number, file, old, new = FIXTURES[(function, name)]
    assert (ROOT / "reference" / file).read_text().count(old) == 1, f"the patch for {name} no longer applies"
    folder = make_fixture(tmp_path / "submission", file, old, new)
    (test,) = [t for t in grade(folder, worker=worker, cases=[CASES[number]]).tests if t.number == number]
    assert test.status == "failed" and test.diagnosis == words, test.output
    assert f"Likely mistake: your output equals {words}." in test.output


def test_a_correct_submission_is_never_diagnosed(worker):
    results = grade(ROOT / "reference", worker=worker)
    assert results.score == sum(problem_points().values())
    assert not any(test.diagnosis or "Likely mistake" in test.output for test in results.tests)


def test_hidden_cases_are_never_diagnosed(worker, tmp_path):
    folder = make_fixture(tmp_path / "submission", "attention.py", "Q @ K.T / math.sqrt(d)", "Q @ K.T")
    tests = grade(folder, worker=worker, cases=[case for case in all_cases() if case.problem == "4"]).tests
    hidden_failures = [t for t in tests if t.number in CASES and not CASES[t.number].public and t.status == "failed"]
    assert hidden_failures and not any(t.diagnosis for t in hidden_failures)
    assert all(t.output == "Failed: wrong value." for t in hidden_failures)


def hand_weights(c=10.0, sign=1.0, value=1.0):
    """Content-task weights built here: query and key c * token, value `value` * token."""
    eye = np.eye(3)
    return {"Km": c * eye, "Qm": sign * c * eye, "Vm": value * eye}


@pytest.mark.parametrize(
    "weights, pattern",
    [
        # c = 1: query A scores 1/sqrt(3) on its own key and 0 on B's, so B gets 1 / (1 + e^(1/sqrt 3)) = 0.36
        (
            hand_weights(c=1.0),
            "Query 0 (A) attends mostly to the right key, but 0.36 of its attention leaks onto keys 1 (B)",
        ),
        # c = 5, the commonest near-miss: B gets 1 / (1 + e^(25/sqrt 3)) = 5.4e-07, far above the check's atol of 1e-8
        (
            hand_weights(c=5.0),
            "Query 0 (A) attends mostly to the right key, but 5.4e-07 of its attention leaks onto keys 1 (B), "
            "which it should ignore. The notebook's check allows an output entry that should be 0 to be off by "
            "1e-08 at most (np.allclose's atol), so the leak must stay below that: the scores are not "
            "separated enough; scale Km or Qm up.",
        ),
        (
            hand_weights(sign=-1.0),
            "Query 0 (A) attends mostly to key 1 (B) but should attend to 0 (A): its scores favour the wrong key",
        ),
        (
            hand_weights(value=2.0),
            "Query 0 (A) attends to the right key (leak 0, under 1e-08), but the output row is [2, 0, 0] "
            "instead of [1, 0, 0]: the values are wrong; check Vm",
        ),
    ],
)
def test_failing_weights_show_the_first_sequence_its_attention_and_the_pattern(weights, pattern):
    verdict = judge_weights(weights, "content")
    assert not verdict.passed
    first = "[A]" if "values are wrong" in pattern else "[A, B]"  # [A] alone succeeds unless the values are wrong
    assert f"First failing sequence: {first}" in verdict.message
    assert pattern in verdict.message, verdict.message
    if first == "[A, B]":
        table = verdict.message.split("Attention weights")[1]
        assert re.search(
            r"```\nquery \\ key +0 A +1 B\n +0 A +[0-9.e-]+ +[0-9.e-]+\n +1 B +[0-9.e-]+ +[0-9.e-]+\n```", table
        ), table


def test_weights_that_work_get_no_feedback():
    assert judge_weights(hand_weights(), "content").passed


def test_the_fixture_batch_regraded_counts_every_mistake_in_the_class_report(tmp_path):
    from autograder.regrade import regrade

    export = tmp_path / "export"
    for (function, name), (_, file, old, new) in FIXTURES.items():
        make_fixture(export / f"{function}-{name}", file, old, new)
    make_fixture(export / "correct", "attention.py", "", "")  # no patch: the reference itself
    assert regrade(export, tmp_path / "out", jobs=2) == (len(FIXTURES) + 1, 0)
    words = {(function, name): text for function, name, text in catalogued()}
    for function, name in FIXTURES:
        summary = json.loads((tmp_path / "out" / f"{function}-{name}" / "summary.json").read_text())
        assert words[(function, name)] in summary["details"]["diagnoses"].values(), (function, name)
    assert json.loads((tmp_path / "out" / "correct" / "summary.json").read_text())["details"]["diagnoses"] == {}
    report = (tmp_path / "out" / "report.html").read_text()
    assert all(html.escape(words[key]) in report for key in FIXTURES)
