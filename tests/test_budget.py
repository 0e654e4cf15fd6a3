"""The trusted side's budget: a whole-grade time limit, the task's shapes before arithmetic, printable student text."""

import ast
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from autograder import checks
from autograder import grade as grade_module
from autograder import results as models
from autograder.checks import Expect, FeatureGram
from autograder.cli import print_report
from autograder.config import GraderConfig
from autograder.grade import CASE_OVERHEAD, fitting_batch, grade
from autograder.homework import homework_module
from autograder.log_file import Log
from autograder.registry import all_cases, rng
from autograder.results import Results, printable, write_results
from autograder.sandbox import Job, Outcome, WarmWorker
from reference import transformer as reference_transformer
from tests.helpers import ROOT

problem2 = homework_module("cases.problem2")
problem2_log = homework_module("cases.problem2_log")
reference_model = homework_module("reference_model")
notebook_helpers, numpy_transformer = reference_model.notebook_helpers, reference_model.numpy_transformer

CASES = {case.number: case for case in all_cases()}
HELPERS = notebook_helpers()
STUDENT_FILES = ("purification.py", "attention.py", "kernel_attention.py")
HOSTILE_TEXT = "clear\x1b[2J bell\x07 back\r nul\x00 flip\u202e c1\x85\x9b31m end\x1b]0;title\x07."
UNPRINTABLE = ["\x1b", "\x07", "\r", "\x00", "\u202e", "\x85", "\x9b", "[2J", "31m", "title"]


# ---------------------------------------------------------------- the whole-grade budget
def jobs(*timeouts):
    return [Job("call", "attention", "softmax_attention", timeout=timeout) for timeout in timeouts]


@pytest.mark.parametrize(
    "timeouts, seconds_left, given",
    [
        ((10, 10, 10), 100, [10, 10, 10]),  # everything fits: one batch, timeouts unchanged
        ((10, 10, 10), 25, [10, 10]),  # the third waits for the next batch
        ((10, 10), 5, [5 - CASE_OVERHEAD]),  # the first job alone is cut short to the time left
        ((10,), 1.1, []),  # less than min_case_seconds left: nothing runs
        ((None, 2), 30, [3.0, 2]),  # no own timeout: the configured case_timeout
    ],
)
def test_a_batch_holds_the_jobs_that_fit_in_the_time_left(timeouts, seconds_left, given):
    batch = fitting_batch(jobs(*timeouts), seconds_left, GraderConfig(case_timeout=3.0))
    assert [job.timeout for job in batch] == pytest.approx(given)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class HangingWorker:
    """A worker whose every job runs out its timeout, on a fake clock; it records the batches it is given."""

    def __init__(self, clock):
        self.clock, self.batches = clock, []

    def run_batch(self, jobs, root):
        self.batches.append([job.timeout for job in jobs])
        self.clock.now += sum(job.timeout + 0.1 for job in jobs)
        return [Outcome("timeout") for _ in jobs]


@pytest.mark.parametrize("process_per_case", [False, True])
def test_hanging_jobs_stop_at_the_deadline_and_the_rest_are_not_run(monkeypatch, process_per_case):
    clock = FakeClock()
    monkeypatch.setattr(grade_module.time, "monotonic", clock)
    config = GraderConfig(case_timeout=10.0)
    cases = [CASES[number] for number in ("3.1", "4.1", "3.2", "3.3", "3.4", "3.5", "4.2")]  # two visible, five hidden
    plans = [(Job("call", "attention", f"function_{index}"), None) for index in range(len(cases))]  # none skipped
    worker = HangingWorker(clock)
    submission = type("S", (), {"root": None})
    outcomes = grade_module.run_jobs(cases, plans, submission, worker, process_per_case, clock.now + 45, config)
    assert clock.now <= 1000 + 45
    ran = [timeout for batch in worker.batches for timeout in batch]
    assert ran[:4] == [10, 10, 10, 10] and 1 <= ran[4] < 10 and len(ran) == 5  # the fifth cut short; two never run
    assert sorted(outcomes) == sorted(case.number for case in cases[:5])
    assert outcomes[cases[4].number].error == grade_module.CUT_SHORT
    assert outcomes[cases[3].number].error != grade_module.CUT_SHORT
    assert all(len(batch) == 1 for batch in worker.batches) if process_per_case else worker.batches[0] == [10, 10]


def hanging_submission(folder):
    """Every function of every student file sleeps for an hour; so do PytorchTransformer's methods."""
    folder.mkdir()
    for name in STUDENT_FILES:
        tree = ast.parse((ROOT / "reference" / name).read_text())
        functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert functions
        (folder / name).write_text(
            "import time\n\n"
            + "".join(f"def {function}(*args, **kwargs):\n    time.sleep(3600)\n\n\n" for function in functions)
        )
    (folder / "transformer.py").write_text(
        "import time\n\nimport torch\n\n\nclass PytorchTransformer(torch.nn.Module):\n"
        "    def __init__(self, *args, **kwargs):\n        time.sleep(3600)\n\n"
        "    def forward(self, seq):\n        time.sleep(3600)\n\n\n"
        + "".join(
            f"def {name}():\n    time.sleep(3600)\n\n\n"
            for name in ("attention_by_content", "attention_by_position", "attention_unique")
        )
    )
    return folder


def test_a_submission_that_hangs_everywhere_ends_within_the_budget(tmp_path):
    budget = 6.0
    config = GraderConfig(case_timeout=2.0, grade_budget_seconds=budget)
    folder = hanging_submission(tmp_path / "hangs")
    with WarmWorker(config) as worker:
        assert worker.run(Job("call", "attention", "attention_scale", (16,)), ROOT / "reference").status == "ok"  # warm
        started = time.monotonic()
        results = grade(folder, config, worker=worker)
        seconds = time.monotonic() - started
    assert budget - 1 < seconds < budget + 3
    write_results(results, tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == 0 and "time budget ran out" in data["output"]
    by_category = {}
    for test in results.tests:
        by_category.setdefault(test.category, []).append(test)
    assert by_category[checks.TIMEOUT]  # some cases ran, and were stopped
    not_run = by_category[checks.NOT_RUN]
    assert len(not_run) > 30 and all(test.status == "failed" and test.score == 0 for test in not_run)
    for test in not_run:
        assert "not run: the submission used up the grading time budget" in test.output
        if test.visibility == "visible" and not CASES[test.number].public:  # hidden: the reason, nothing more
            assert test.output.startswith("Failed: not run") and len(test.output) < 300
    staff = {test.number: test for test in results.tests}["0.2"]
    assert staff.visibility == "hidden" and f"{len(not_run)} case(s) not run" in staff.output


def test_run_autograder_stops_a_grader_past_its_time_limit(tmp_path):
    # The grader's own budget is left at 540 s; only run_autograder's `timeout` can end this run in time.
    (tmp_path / "source").symlink_to(ROOT)
    hanging_submission(tmp_path / "submission")
    (tmp_path / "results").mkdir()
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(tmp_path),
        "AUTOGRADER_PYTHON": sys.executable,
        "AUTOGRADER_TIME_LIMIT": "4",
    }
    started = time.monotonic()
    done = subprocess.run([str(ROOT / "run_autograder")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and time.monotonic() - started < 4 + 15 + 5
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0
    hidden = " ".join(test["output"] for test in results["tests"] if test["visibility"] == "hidden")
    assert "stopped by the time limit" in hidden


# ---------------------------------------------------------------- shapes before arithmetic
def content_weights(qk=3):
    return {"Km": np.eye(3, qk) * 10, "Qm": np.eye(3, qk) * 10, "Vm": np.eye(3)}


@pytest.mark.parametrize(
    "task, weights, message",
    [
        (
            "content",
            {**content_weights(), "Km": np.zeros((5000, 5000))},
            "Km has shape (5000, 5000); expected (3, qk) with qk <= 64",
        ),
        (
            "content",
            {**content_weights(), "Qm": np.zeros((3, 65))},
            "Qm has shape (3, 65); expected (3, qk) with qk = 3",
        ),
        ("content", content_weights(qk=65), "Km has shape (3, 65); expected (3, qk) with qk <= 64"),
        ("content", {**content_weights(), "Vm": np.zeros(9)}, "Vm has shape (9,); expected a matrix of shape (3, 3)"),
        (
            "position",
            {
                "pos": np.zeros((4, 5000)),
                "Km": np.zeros((5003, 1)),
                "Qm": np.zeros((5003, 1)),
                "Vm": np.zeros((5003, 3)),
            },
            "pos has shape (4, 5000); expected (4, p) with p <= 64",
        ),
        (
            "position",
            {"pos": np.eye(4), "Km": np.zeros((7, 1)), "Qm": np.zeros((7, 1)), "Vm": np.zeros((6, 3))},
            "Vm has shape (6, 3); expected (3+p, 3) with p = 4",
        ),
        (
            "unique",
            {"pos": np.zeros((3, 1)), "Km": np.zeros((5, 4)), "Qm": np.zeros((5, 4)), "Vm": np.zeros((5, 1))},
            "pos has shape (3, 1); expected (n, p) with 7 <= n <= 64",
        ),
    ],
)
def test_a_matrix_of_the_wrong_shape_is_refused_before_any_arithmetic(monkeypatch, task, weights, message):
    def no_arithmetic(*args, **kwargs):
        raise AssertionError("the weights were used before their shapes were checked")

    monkeypatch.setattr(problem2, "batched_forward", no_arithmetic)
    monkeypatch.setattr(problem2, "numpy_transformer", no_arithmetic)
    verdict = problem2.shape_verdict(weights, task) if task == "unique" else problem2.judge_weights(weights, task)
    assert verdict.category == checks.WRONG_SHAPE and message in verdict.message


@pytest.mark.parametrize("task", ["content", "position"])
def test_reference_weights_still_pass(task):
    weights = getattr(reference_transformer, f"attention_by_{task}")()
    verdict = problem2.judge_weights(weights, task)
    assert verdict.passed and f"all {1092 if task == 'content' else 120} sequences solved" in verdict.message


def random_weights(g, task, scale):
    p, qk = int(g.integers(1, 5)), int(g.integers(1, 5))
    rows = 3 if task == "content" else 3 + p
    weights = {
        "Km": scale * g.standard_normal((rows, qk)),
        "Qm": scale * g.standard_normal((rows, qk)),
        "Vm": g.standard_normal((rows, 3)),
    }
    if task == "position":
        weights["pos"] = scale * g.standard_normal((4, p))
    return weights


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("task", ["content", "position"])
def test_vectorised_check_finds_the_notebooks_failures(task, seed):
    g = np.random.default_rng(seed)
    for scale in (0.5, 5.0, 50.0):
        weights = random_weights(g, task, scale)
        with np.errstate(all="ignore"):
            fast = problem2.failing_sequences(weights, task)
            naive = HELPERS.failing_sequences(weights, task, numpy_transformer())
        assert [letters for letters, _, _ in fast] == [letters for letters, _, _ in naive]
        for (_, expected, produced), (_, naive_expected, naive_produced) in zip(fast, naive, strict=True):
            np.testing.assert_allclose(produced, naive_produced, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(expected, naive_expected)


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_unique_check_finds_the_notebooks_failures(seed):
    g = np.random.default_rng(seed)
    right = reference_transformer.attention_unique()
    for weights in (
        right,
        {name: m + 0.3 * g.standard_normal(m.shape) for name, m in right.items()},
        {"Km": g.standard_normal((4, 2)), "Qm": g.standard_normal((4, 2)), "Vm": g.standard_normal((4, 1))},
    ):
        fast = problem2.unique_failures(weights)
        naive = HELPERS.unique_failures(weights, numpy_transformer())
        assert [letters for letters, _, _ in fast] == [letters for letters, _, _ in naive]
    assert problem2.unique_failures(right) == []


class FakeSubmission:
    """What a case builder asks of a submission: a log, and whether a file is there."""

    def __init__(self, values):
        self.log = (Log(values=values), None)

    def has(self, name):
        return False


@pytest.mark.parametrize("number", ["2.8", "2.12"])
def test_huge_logged_matrices_are_refused_before_any_arithmetic(monkeypatch, number):
    values = {
        "attention_by_content_Q": [0.5] * 30_000,
        "attention_by_content_K": [0.5] * 30_000,
        "attention_by_content_V": [0.0] * 9,
        "attention_by_content": [0.0] * 18,
    }
    monkeypatch.setattr(problem2_log, "numpy_transformer", lambda: pytest.fail("the logged matrices were used"))
    monkeypatch.setattr(problem2, "batched_forward", lambda *args: pytest.fail("the logged matrices were used"))
    verdict = CASES[number].build(FakeSubmission(values), rng(number))
    assert verdict.category == checks.WRONG_SHAPE
    assert "Km has shape (3, 10000); expected (3, qk) with qk <= 64" in verdict.message


class Untouchable(np.ndarray):
    """A huge output that fails the test as soon as anything computes on its entries."""

    def __array_ufunc__(self, *args, **kwargs):
        raise AssertionError("an O(size) computation on a huge output")

    def tolist(self):
        raise AssertionError("a huge output listed")


def huge(shape):
    return np.broadcast_to(np.zeros(1), shape).view(Untouchable)  # no memory for its entries


@pytest.mark.parametrize(
    "check",
    [
        Expect(np.zeros((4, 2)), mistakes={"a mistake": np.ones((4, 2))}),  # softmax_attention's shape
        Expect(np.float64(4.0)),
        FeatureGram(np.ones((3, 2))),
    ],
)
def test_a_huge_output_is_judged_by_its_shape_alone(check):
    verdict = check(Outcome("ok", outputs={"value": huge((4000, 4000))}, kinds={"value": "ndarray"}))
    assert verdict.category == checks.WRONG_SHAPE and "(4000, 4000)" in verdict.message


def test_layer_facts_of_a_huge_shape_are_not_listed():
    logged_class = {
        "torch_transformer_init": "def __init__(self): pass",
        "torch_transformer_forward": "def forward(self): pass",
    }
    job, check = CASES["2.7"].build(FakeSubmission(logged_class), rng("2.7"))
    verdict = check(Outcome("ok", outputs={"0:Km": huge((4000, 4000))}))
    assert verdict.category == checks.WRONG_VALUE and "Km should be nn.Linear" in verdict.message


# ---------------------------------------------------------------- printable student text
def test_results_models_strip_control_characters_and_keep_newlines_and_tabs():
    test = models.TestResult(
        number="4.1", name=HOSTILE_TEXT, score=0, max_score=1, status="failed", output=f"a\n\tb {HOSTILE_TEXT}\r\n"
    )
    for text in (test.name, test.output):
        assert not any(bad in text for bad in UNPRINTABLE), repr(text)
        assert "clear" in text and "bell" in text and "flip" in text and "end" in text
    assert test.output.startswith("a\n\tb ") and test.output.endswith("\n")
    test.output = "later \x1b[31mred"  # assigned after the fact: cleaned too
    assert test.output == "later red"
    assert Results(tests=[test], output=HOSTILE_TEXT).output == printable(HOSTILE_TEXT)


def test_an_exception_message_of_escape_codes_reaches_neither_results_nor_terminal(tmp_path, capsys):
    folder = tmp_path / "escapes"
    folder.mkdir()
    (folder / "attention.py").write_text(
        f"MESSAGE = bytes.fromhex({HOSTILE_TEXT.encode().hex()!r}).decode()\n\n\n"
        "def softmax_attention(Q, K, V):\n    raise ValueError(MESSAGE)\n"
    )  # quoted: no escape
    results = grade(folder, cases=[CASES["4.1"]])
    (test,) = [t for t in results.tests if t.number == "4.1"]
    assert test.category == checks.EXCEPTION and "ValueError: clear" in test.output
    write_results(results, tmp_path / "results.json")
    text = json.loads((tmp_path / "results.json").read_text())["tests"][0]["output"]
    assert not any(bad in text for bad in UNPRINTABLE), repr(text)
    print_report(results, expand="all", colour=False)
    printed = capsys.readouterr().out
    assert "ValueError: clear" in printed and not any(bad in printed for bad in UNPRINTABLE)


def test_the_terminal_report_cleans_text_even_from_an_unvalidated_model(capsys):
    raw = models.TestResult.model_construct(
        number="4.1",
        name=HOSTILE_TEXT,
        score=0,
        max_score=1,
        status="failed",
        output=HOSTILE_TEXT,
        visibility="visible",
        category="exception",
        diagnosis="",
        behaviour="",
    )
    print_report(Results.model_construct(tests=[raw], output="", execution_time=0.0), expand="all", colour=False)
    printed = capsys.readouterr().out
    assert "clear" in printed and not any(bad in printed for bad in UNPRINTABLE)
