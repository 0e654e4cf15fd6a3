"""A function that timed out once is not run again: its later cases fail at once as timeouts, naming the case that
hung."""

from autograder import checks
from autograder import grade as grade_module
from autograder.config import GraderConfig
from autograder.registry import all_cases
from autograder.sandbox import Job, Outcome

CASES = {case.number: case for case in all_cases()}
HANGING = {("attention", "softmax_attention")}


class RecordingWorker:
    """Runs nothing: a job of a HANGING function times out, any other returns; every batch is recorded."""

    def __init__(self):
        self.batches = []

    def run_batch(self, jobs, root):
        self.batches.append([(job.module, job.function) for job in jobs])
        return [Outcome("timeout" if (job.module, job.function) in HANGING else "ok") for job in jobs]


def plans_for(numbers_and_functions):
    cases = [CASES[number] for number, _ in numbers_and_functions]
    plans = [(Job("call", "attention", function, timeout=2.0), None) for _, function in numbers_and_functions]
    return cases, plans


def run(cases, plans, twins=None, process_per_case=False):
    worker = RecordingWorker()
    submission = type("S", (), {"root": None})
    outcomes = grade_module.run_jobs(
        cases, plans, submission, worker, process_per_case, float("inf"), GraderConfig(), twins
    )
    return outcomes, worker.batches


def test_later_cases_of_a_hanging_function_are_not_run():
    # 3.1 and 4.1 are visible, the rest hidden; softmax_attention hangs, argmax_attention does not
    cases, plans = plans_for(
        [
            ("3.1", "softmax_attention"),
            ("4.1", "softmax_attention"),
            ("4.4", "argmax_attention"),
            ("3.2", "softmax_attention"),
            ("3.3", "argmax_attention"),
            ("3.4", "softmax_attention"),
        ]
    )
    twins = {"3.1": (Job("call", "attention", "softmax_attention"), None)}
    outcomes, batches = run(cases, plans, twins)
    ran = [function for batch in batches for _, function in batch]
    assert ran.count("softmax_attention") == 1  # only 3.1 ran it
    assert ran.count("argmax_attention") == 2
    assert outcomes["3.1"].status == "timeout" and outcomes["3.1"].skipped_after == ""
    for key in ("4.1", "3.2", "3.4"):
        assert outcomes[key].status == "timeout" and outcomes[key].skipped_after == "3.1"
    assert outcomes["4.4"].status == "ok" and outcomes["3.3"].status == "ok"
    assert "twin:3.1" not in outcomes  # 3.1 failed: nothing would judge its twin


def test_the_twin_of_a_case_that_returned_still_runs_when_its_function_hung_elsewhere():
    # 4.4 returns (an odd argmax_attention that hangs on 4.6's inputs only); 4.4's twin must still be judged
    cases, plans = plans_for([("4.4", "argmax_attention"), ("4.6", "argmax_attention"), ("4.5", "argmax_attention")])
    plans[1] = (Job("call", "attention", "argmax_attention", args=("hang",), timeout=2.0), None)
    worker = RecordingWorker()
    worker.run_batch = lambda jobs, root: [Outcome("timeout" if job.args == ("hang",) else "ok") for job in jobs]
    twins = {"4.4": (Job("call", "attention", "argmax_attention"), None)}
    outcomes = grade_module.run_jobs(
        cases, plans, type("S", (), {"root": None}), worker, False, float("inf"), GraderConfig(), twins
    )
    assert outcomes["4.6"].status == "timeout" and outcomes["4.6"].skipped_after == ""
    assert outcomes["4.5"].skipped_after == "4.6"  # hidden, and its function hung
    assert outcomes["twin:4.4"].status == "ok"


def test_a_function_is_tried_once_then_its_other_cases_share_one_batch():
    cases, plans = plans_for(
        [
            ("4.4", "argmax_attention"),
            ("4.6", "argmax_attention"),
            ("4.8", "softmax"),
            ("5.1", "softmax"),
            ("5.2", "softmax"),
        ]
    )
    outcomes, batches = run(cases, plans)
    assert batches == [
        [("attention", "argmax_attention"), ("attention", "softmax")],
        [("attention", "argmax_attention"), ("attention", "softmax"), ("attention", "softmax")],
    ]
    assert {outcome.status for outcome in outcomes.values()} == {"ok"} and len(outcomes) == 5


def test_one_case_a_batch_when_each_case_has_its_own_child():
    cases, plans = plans_for([("3.1", "softmax_attention"), ("4.1", "softmax_attention"), ("4.4", "argmax_attention")])
    outcomes, batches = run(cases, plans, process_per_case=True)
    assert batches == [[("attention", "softmax_attention")], [("attention", "argmax_attention")]]
    assert outcomes["4.1"].skipped_after == "3.1"


def test_problem_2_class_from_the_log_and_from_the_file_are_two_functions():
    log_job = Job("torch_forward", "transformer", "PytorchTransformer", class_source={"source": "x"})
    file_job = Job("torch_forward", "transformer", "PytorchTransformer")
    assert grade_module.hang_key(log_job) != grade_module.hang_key(file_job)
    assert grade_module.hang_key(log_job) == grade_module.hang_key(
        Job("torch_attributes", "transformer", "PytorchTransformer", class_source={"other": "y"})
    )


def test_the_feedback_names_the_case_that_hung_and_hidden_cases_say_the_category_only():
    visible, hidden = CASES["4.1"], CASES["3.2"]
    plan = (Job("call", "attention", "softmax_attention"), None)
    skipped = Outcome("timeout", skipped_after="3.1")
    shown = grade_module.judge_case(visible, plan, skipped, GraderConfig(), [])
    assert shown.category == checks.TIMEOUT and shown.score == 0
    assert "softmax_attention was not run again: it timed out in case 3.1" in shown.output
    kept = grade_module.judge_case(hidden, plan, skipped, GraderConfig(), [])
    assert kept.category == checks.TIMEOUT and kept.output == f"Failed: {checks.TIMEOUT}."


def test_a_hidden_case_with_a_twin_has_its_twin_run_beside_it():
    assert not CASES["1.14"].public and callable(CASES["1.14"].twin)
    cases, plans = plans_for([("1.14", "argmax_attention")])
    outcomes, batches = run(cases, plans, {"1.14": (Job("call", "attention", "argmax_attention"), None)})
    assert outcomes["1.14"].status == "ok" and outcomes["twin:1.14"].status == "ok"
