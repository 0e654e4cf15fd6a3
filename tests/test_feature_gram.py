"""Random feature maps: 6.1 checks the docstring's layout, 6.2-6.4 only the inner products; the lambda mistakes'
values."""

import math

import numpy as np
import pytest

from autograder import checks
from autograder.frozen import decode_check, encode_check
from autograder.homework import homework_module
from autograder.registry import all_cases, rng
from autograder.sandbox import Outcome

mistakes = homework_module("mistakes")
CATALOGUE, LAYOUT_WORDS, resolve = mistakes.CATALOGUE, mistakes.LAYOUT_WORDS, mistakes.resolve

CASES = {case.number: case for case in all_cases()}
RANDOM_FEATURE_CASES = ("6.1", "6.2", "6.3", "6.4")


def fourier(X, W, columns=None):
    """Eq. (14) written out here: sqrt(1/R) [sin(X W^T), cos(X W^T)], its columns taken in `columns`' order."""
    projections = X @ W.T
    phi = np.hstack([np.sin(projections), np.cos(projections)]) / math.sqrt(len(W))
    return phi if columns is None else phi[:, columns]


def softmax_fourier(X, W, columns=None):
    """exp(|x|^2 / (2 sqrt(D))) times eq. (14)'s features."""
    return np.exp(np.sum(X**2, axis=1, keepdims=True) / (2 * math.sqrt(X.shape[1]))) * fourier(X, W, columns)


def judge(number, feature_map, seed=None):
    """Build case `number` (on rng(number), or a generator seeded `seed`), answer it with `feature_map`, and judge."""
    job, check = CASES[number].build(None, rng(number) if seed is None else np.random.default_rng(seed))
    X, W = (resolve(arg) for arg in job.args)
    return check(
        Outcome("ok", outputs={"value": np.asarray(feature_map(X, W), dtype=np.float64)}, kinds={"value": "ndarray"})
    )


def the_map(number):
    return fourier if number in ("6.1", "6.2") else softmax_fourier


def shuffled(feature_map, seed=0):
    """The map with its 2R columns in one random order, the same for every row."""
    return lambda X, W: feature_map(X, W, np.random.default_rng(seed).permutation(2 * len(W)))


@pytest.mark.parametrize("number", RANDOM_FEATURE_CASES)
def test_the_docstring_layout_passes_every_case(number):
    assert judge(number, the_map(number)).passed


@pytest.mark.parametrize("number", ["6.2", "6.3", "6.4"])
@pytest.mark.parametrize("seed", [0, 1])
def test_any_consistent_column_order_passes_the_inner_product_cases(number, seed):
    verdict = judge(number, shuffled(the_map(number), seed), seed=seed + 10)
    assert verdict.passed and "phi(X) phi(X)^T" in verdict.message


def test_the_layout_case_fails_another_column_order_and_says_why():
    cosines_first = judge("6.1", lambda X, W: fourier(X, W, np.r_[len(W) : 2 * len(W), 0 : len(W)]))
    assert cosines_first.category == checks.WRONG_VALUE
    assert "cosines before the sines" in cosines_first.diagnosis and "inner products" in cosines_first.diagnosis
    interleaved = judge(
        "6.1", lambda X, W: fourier(X, W, np.arange(2 * len(W)).reshape(2, -1).T.ravel())
    )  # sin_1, cos_1, ...
    assert interleaved.category == checks.WRONG_VALUE and interleaved.diagnosis == LAYOUT_WORDS["random_feature_map"]
    assert judge("6.1", shuffled(fourier)).diagnosis == LAYOUT_WORDS["random_feature_map"]


@pytest.mark.parametrize(
    "wrong",
    [
        lambda X, W: 2 * fourier(X, W),  # inner products four times too large
        lambda X, W: np.stack(
            [np.roll(row, i) for i, row in enumerate(fourier(X, W))]
        ),  # the layout changes from row to row
        lambda X, W: fourier(X, W)[:, :-1],  # a feature short
    ],
)
def test_the_layout_case_says_nothing_of_inner_products_that_are_wrong(wrong):
    verdict = judge("6.1", wrong)
    assert not verdict.passed and verdict.diagnosis != LAYOUT_WORDS["random_feature_map"]


@pytest.mark.parametrize("number", ["6.2", "6.3", "6.4"])
def test_a_column_order_that_changes_from_row_to_row_fails(number):
    def rolled(X, W):
        phi = the_map(number)(X, W)
        return np.stack([np.roll(row, i) for i, row in enumerate(phi)])

    assert judge(number, rolled).category == checks.WRONG_VALUE


@pytest.mark.parametrize("number", ["6.2", "6.3", "6.4"])
def test_the_number_of_features_is_2R_even_when_the_inner_products_are_right(number):
    X, W = CASES[number].build(None, rng(number))[0].args
    padded = judge(number, lambda X, W: np.hstack([the_map(number)(X, W), np.zeros((len(X), 1))]))
    assert padded.category == checks.WRONG_SHAPE
    assert (
        f"expected features of shape ({len(X)}, {2 * len(W)}), got shape ({len(X)}, {2 * len(W) + 1})" in padded.message
    )


def test_the_visible_inner_product_case_names_mistakes_and_the_hidden_ones_know_none():
    job, check = CASES["6.3"].build(None, rng("6.3"))
    assert len(check.mistakes) == 2
    no_factor = judge("6.3", fourier)  # the softmax map without its exp(|x|^2 / (2 sigma^2)) factor
    assert no_factor.category == checks.WRONG_VALUE and no_factor.diagnosis.startswith(
        "random_feature_map(X, W) without"
    )
    for number in ("6.2", "6.4"):
        assert CASES[number].build(None, rng(number))[1].mistakes == {}


def test_a_frozen_inner_product_check_judges_as_the_original():
    job, check = CASES["6.3"].build(None, rng("6.3"))
    arrays = {}
    thawed = decode_check(encode_check(check, arrays), arrays)
    assert thawed.features == check.features == 16 and np.array_equal(thawed.expected_gram, check.expected_gram)
    X, W = (resolve(arg) for arg in job.args)
    outcome = Outcome("ok", outputs={"value": softmax_fourier(X, W, np.arange(16)[::-1])}, kinds={"value": "ndarray"})
    assert thawed(outcome).passed and check(outcome).passed


def test_a_frozen_layout_check_still_recognises_another_layout():
    job, check = CASES["6.1"].build(None, rng("6.1"))
    arrays = {}
    thawed = decode_check(encode_check(check, arrays), arrays)
    X, W = (resolve(arg) for arg in job.args)
    outcome = Outcome("ok", outputs={"value": fourier(X, W, np.arange(16)[::-1])}, kinds={"value": "ndarray"})
    assert thawed(outcome).diagnosis == check(outcome).diagnosis == LAYOUT_WORDS["random_feature_map"]


def mistake(function, name):
    (found,) = [m for m in CATALOGUE[function] if m.name == name]
    return found.compute


@pytest.mark.parametrize("name, factor", [("lambda_times_n", 1), ("lambda_times_2n", 2)])
def test_lambda_scaled_by_n_is_the_purifier_of_the_averaged_loss(name, factor):
    g = np.random.default_rng(3)
    X, lam = g.standard_normal((4, 9)), 0.3
    W = mistake("optimal_purifier", name)(X, lam)
    # the averaged loss (1 / (factor n)) ||X - W X||^2 + lam ||W||^2 is stationary at W: its gradient vanishes
    n = X.shape[1]
    gradient = -2 * (X - W @ X) @ X.T / (factor * n) + 2 * lam * W
    assert np.allclose(gradient, 0, atol=1e-10)
    U, sigma, _ = np.linalg.svd(X)
    assert np.allclose(W, U @ np.diag(sigma**2 / (sigma**2 + factor * n * lam)) @ U.T)


@pytest.mark.parametrize("name, factor", [("lambda_times_n", 1), ("lambda_times_2n", 2)])
def test_lambda_scaled_by_n_in_the_loss(name, factor):
    W, X, lam = np.eye(2), np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]), 0.5
    # X - W X = 0, so the loss is the regularisation alone: factor * n * lam * ||I||_F^2 = factor * 3 * 0.5 * 2
    assert mistake("purification_loss", name)(W, X, lam) == pytest.approx(factor * 3.0)
