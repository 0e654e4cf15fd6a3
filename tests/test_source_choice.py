"""Problem 2 from the better of transformer.py and the log, and optional tasks left out: the choice, the wording, the
report."""

import json

from autograder import checks
from autograder.check_summary import build_report, report_text
from autograder.grade import not_attempted_reason, optional_entry
from autograder.homework import homework_module
from autograder.notebook import SelfCheck
from autograder.registry import all_cases
from autograder.results import Results, to_gradescope_dict, write_results
from autograder.results import TestResult as Entry
from autograder.sandbox import Job, Outcome

problem2 = homework_module("cases.problem2")
CLASS_PART, SOURCE_PARTS = problem2.CLASS_PART, problem2.SOURCE_PARTS
source_choice = homework_module("source_choice")
FROM_LOG, better_source_of_problem2, why_transformer_file_fell_short = (
    source_choice.FROM_LOG,
    source_choice.better_source_of_problem2,
    source_choice.why_transformer_file_fell_short,
)

IMPORT_ERROR = (
    'PytorchTransformer raised an exception:\n```\nFile "transformer.py", line 3, in <module>\n'
    "    get_ipython().system('pip install torch')\nNameError: name 'get_ipython' is not defined\n```"
)


class FakeSubmission:
    """Just what the choice asks of a submission: which files it has and whether its log reads."""

    def __init__(self, files=("transformer.py", "submission_log.json"), log_reads=True):
        self.files, self.log = files, (object(), None) if log_reads else (None, "unreadable")

    def has(self, name):
        return name in self.files


def entry(number, score, max_score=1.0, output="", visibility="visible"):
    status = "passed" if score == max_score else "failed"
    return Entry(
        number=number,
        name=f"case {number}",
        score=score,
        max_score=max_score,
        status=status,
        output=output or ("Passed." if status == "passed" else "Failed: wrong value."),
        visibility=visibility,
    )


def problem2_cases():
    numbers = {number for part in SOURCE_PARTS.values() for number in part}
    return [case for case in all_cases() if case.number in numbers]


def test_parts_cover_the_class_and_each_weights_function():
    all_cases()  # the hidden forward cases register themselves when their module is imported
    assert sorted(SOURCE_PARTS[CLASS_PART]) == ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"]
    assert SOURCE_PARTS["attention_by_content()"] == ["2.8"] and SOURCE_PARTS["attention_by_position()"] == ["2.9"]


def test_nothing_runs_again_when_transformer_py_earns_every_point():
    cases = problem2_cases()
    tests = [entry(case.number, case.weight, case.weight) for case in cases]

    def rerun(*_):
        raise AssertionError("the log was graded although transformer.py earned every point")

    assert better_source_of_problem2(cases, tests, FakeSubmission(), rerun) == (tests, "")
    failing = [entry(case.number, 0.0, case.weight) for case in cases]
    for submission in (FakeSubmission(files=("submission_log.json",)), FakeSubmission(log_reads=False)):
        assert better_source_of_problem2(cases, failing, submission, rerun) == (failing, "")
    graders_fault = [test.model_copy(update={"category": checks.GRADER_ERROR}) for test in failing]
    assert better_source_of_problem2(cases, graders_fault, FakeSubmission(), rerun) == (graders_fault, "")


def test_each_part_comes_from_the_source_that_earns_more():
    cases = problem2_cases()
    public = {case.number for case in cases if case.public}
    from_file = {
        case.number: entry(case.number, 0.0, case.weight, IMPORT_ERROR if case.number == "2.1" else "")
        for case in cases
    }
    from_file["2.9"] = entry("2.9", 4.0, 4.0)  # the position weights pass from transformer.py: never run again
    from_log = {number: entry(number, case.weight, case.weight) for number, case in ((c.number, c) for c in cases)}
    from_log["2.8"] = entry("2.8", 0.0, 4.0)  # a tie at 0: transformer.py's result stays
    asked = []

    def rerun(some_cases, view):
        asked.extend(case.number for case in some_cases)
        assert not view.has("transformer.py") and view.has("submission_log.json")
        return [from_log[case.number] for case in some_cases]

    tests, note = better_source_of_problem2(cases, list(from_file.values()), FakeSubmission(), rerun)
    chosen = {test.number: test for test in tests}
    assert sorted(asked) == sorted(SOURCE_PARTS[CLASS_PART] + ["2.8"])
    assert [test.number for test in tests] == list(from_file)  # same order
    assert sum(chosen[number].score for number in SOURCE_PARTS[CLASS_PART]) == 7
    assert chosen["2.8"] is from_file["2.8"] and chosen["2.9"] is from_file["2.9"]
    for number in SOURCE_PARTS[CLASS_PART]:
        said = chosen[number].output
        assert said.startswith(FROM_LOG) if number in public else said == "Passed."  # hidden: the category alone
    assert (
        "PytorchTransformer: transformer.py could not be imported (`NameError: name 'get_ipython' is not defined`)"
        in note
    )
    assert "(7 of 7 points; transformer.py's: 0)" in note and "attention_by_content" not in note


def test_only_a_public_import_error_is_quoted():
    assert why_transformer_file_fell_short([entry("2.1", 0.0, output=IMPORT_ERROR)]).startswith(
        "transformer.py could not be imported"
    )
    hidden = entry("2.2", 0.0, output=IMPORT_ERROR, visibility="hidden")
    assert why_transformer_file_fell_short([hidden]) == "transformer.py's version earned fewer points"
    longer_fence = (
        'PytorchTransformer raised an exception:\n````text\nFile "transformer.py", line 3, in <module>\n'
        "    get_ipython().system('```')\nNameError: name 'get_ipython' is not defined\n````"
    )
    assert "`NameError: name 'get_ipython' is not defined`" in why_transformer_file_fell_short(
        [entry("2.1", 0.0, output=longer_fence)]
    )
    in_forward = IMPORT_ERROR.replace("<module>", "forward")
    assert (
        why_transformer_file_fell_short([entry("2.1", 0.0, output=in_forward)])
        == "transformer.py's version earned fewer points"
    )


def optional_case():
    return next(case for case in all_cases() if case.optional)


def test_left_out_means_missing_function_file_or_stub_and_nothing_else():
    case = optional_case()
    plan = (Job("call", "transformer", "attention_unique"), None)
    stub = Outcome("exception", error="NotImplementedError: attention_unique", error_type="NotImplementedError")
    missing = Outcome(
        "exception",
        error="AttributeError: module 'transformer' has no attribute 'attention_unique'",
        error_type="AttributeError",
    )
    inside = Outcome(
        "exception", error="AttributeError: 'dict' object has no attribute 'shape'", error_type="AttributeError"
    )
    assert "NotImplementedError" in not_attempted_reason(case, plan, stub)
    assert not_attempted_reason(case, plan, missing) == "transformer.py has no attention_unique()"
    assert (
        not_attempted_reason(case, checks.fail(checks.MISSING, "transformer.py is missing"), None)
        == "transformer.py is missing"
    )
    for attempted in (
        inside,
        Outcome("exception", error="NameError: x", error_type="NameError"),
        Outcome("ok"),
        Outcome("timeout"),
    ):
        assert not_attempted_reason(case, plan, attempted) is None
    assert not_attempted_reason(case, checks.fail(checks.WRONG_SHAPE, "Km is missing"), None) is None


def test_an_optional_task_left_out_is_neither_passed_nor_failed_anywhere():
    case = optional_case()
    failed = Entry(number=case.number, name=case.name, score=0, max_score=0, status="failed", output="Traceback")
    left_out = optional_entry(
        case, failed, checks.fail(checks.MISSING, "transformer.py is missing from the submission"), None
    )
    assert left_out.status is None and left_out.category == checks.NOT_ATTEMPTED and "Traceback" not in left_out.output
    graded = Entry(number="2.8", name="weights", score=0, max_score=4, status="failed", output="wrong")
    results = Results(tests=[graded.model_copy(update={"score": 4, "status": "passed"}), left_out])
    exported = to_gradescope_dict(results)["tests"][1]
    assert "status" not in exported and exported["name"].endswith("(not attempted)")
    report = build_report(results, expand="all")
    assert report.failed == 0 and report.verdict.startswith("All public cases pass.")
    text = report_text(report)
    assert "SKIP" in text and "FAIL" not in text
    html = SelfCheck("folder", 2, report=report)._repr_html_()
    assert ">SKIP<" in html and ">FAIL<" not in html


def test_a_failed_optional_task_is_said_apart_from_the_graded_cases():
    results = Results(
        tests=[
            Entry(number="2.14", name="optional", score=0, max_score=0, status="failed", output="wrong"),
            Entry(number="2.8", name="weights", score=4, max_score=4, status="passed", output="ok"),
        ]
    )
    report = build_report(results)
    assert report.failed == 0 and report.verdict.startswith(
        "All public cases pass. Only the optional task, worth no points, failed."
    )


def test_a_case_graded_from_the_log_says_so_in_the_report_even_when_it_passes():
    said = (
        f"{FROM_LOG}: transformer.py could not be imported, "
        "and the PytorchTransformer in submission_log.json earns more."
    )
    results = Results(
        tests=[
            Entry(
                number="2.1", name="forward", score=1, max_score=1, status="passed", output=f"{said}\n\noutput matches"
            )
        ]
    )
    report = build_report(results)
    assert report.problems[0].cases[0].note == said
    assert said in report_text(report) and said in SelfCheck("folder", 2, report=report)._repr_html_()


def test_a_results_file_without_status_reads_back_as_not_attempted(tmp_path):
    """The notebook's check() reads the subprocess's results.json back into the models."""
    left_out = Entry(
        number="2.14", name="optional (not attempted)", score=0, max_score=0, status=None, output="Not attempted"
    )
    write_results(Results(tests=[left_out]), tmp_path / "results.json")
    read = Results(**json.loads((tmp_path / "results.json").read_text()))
    assert read.tests[0].status is None and build_report(read).problems[0].cases[0].verdict == "skip"
