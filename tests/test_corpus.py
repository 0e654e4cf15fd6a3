"""Every corpus submission, honest, broken or hostile, graded end to end with the invariants of issue 4.

For each item: grading ends within a bound; results.json exists, parses, follows Gradescope's
schema, scores within [0, max] and is exactly what the grader wrote; the submission loses
points only in the problems it breaks (pure attacks score zero there); no student-visible text
holds a grader path, a secret file's content or a hidden case's details.
"""

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from autograder.config import GraderConfig
from autograder.grade import grade, problem_scores
from autograder.registry import all_cases, problem_points
from autograder.results import printable, to_gradescope_dict, write_results
from autograder.sandbox import WarmWorker
from tests.corpus import items, make_submission
from tests.helpers import ROOT
from tests.optional_tools import require

CONFIG = GraderConfig(case_timeout=3.0)  # shorter than the default so that the hanging items stay quick
RESULTS_DIR = Path("/tmp/hw9-corpus-results")  # the results-file attacks aim at this path
PWNED = Path("/tmp/hw9-corpus-pwned")  # what the pickle payload would create if anyone unpickled it
BOUND_SECONDS = 120  # grading one submission, whatever it does
IS_ROOT = os.geteuid() == 0
ITEMS = items()
SECRETS = [  # text that must never reach a student
    str(ROOT),
    "hw9-grader-",
    "/tmp/pytest-of",
    "Hard attention of problem 3",  # reference/attention.py
    "KEYS_3A",
    "FORWARD_TABLE",
    "PURIFIER_TABLE",  # the cases' modules
    "imported reference",
]
if IS_ROOT:
    SECRETS.append(Path("/etc/shadow").read_text().splitlines()[0])


class Listener:
    """A TCP server on 127.0.0.1 that records whatever reaches it."""

    def __init__(self):
        self.received = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                self.received.append(connection.recv(1024))

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


def grade_item(name, worker, parent):
    """Grade one item as run_autograder would; return what the checks need."""
    spec = ITEMS[name]
    shutil.rmtree(RESULTS_DIR, ignore_errors=True)
    RESULTS_DIR.mkdir()
    if IS_ROOT:
        RESULTS_DIR.chmod(0o700)  # as run_autograder does
    listener = Listener() if spec.get("listen") else None
    submission = make_submission(name, parent)
    if listener:
        (submission / "port.txt").write_text(str(listener.port))
    started = time.monotonic()
    try:
        config = CONFIG.model_copy(update={"grade_budget_seconds": spec["budget"]}) if "budget" in spec else CONFIG
        results = grade(submission, config, worker=worker)
        write_results(results, RESULTS_DIR / "results.json")
    finally:
        if listener:
            listener.close()
    seconds = time.monotonic() - started
    written = json.dumps(to_gradescope_dict(results), indent=2, allow_nan=False)
    time.sleep(spec.get("wait", 0))
    files = sorted(p.name for p in RESULTS_DIR.iterdir())
    text = (RESULTS_DIR / "results.json").read_text() if (RESULTS_DIR / "results.json").is_file() else None
    return {
        "results": results,
        "seconds": seconds,
        "files": files,
        "text": text,
        "written": written,
        "received": listener.received if listener else [],
    }


class Graded(dict):
    """Each item graded once, when a test first asks for it (so `-k item` grades only that item), with one warm
    worker."""

    def __init__(self, worker, parent):
        super().__init__()
        self.worker, self.parent = worker, parent

    def __missing__(self, name):
        self[name] = grade_item(name, self.worker, self.parent)
        return self[name]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Items graded with one warm worker shared as regrade would share it."""
    parent = tmp_path_factory.mktemp("corpus")
    PWNED.unlink(missing_ok=True)
    with WarmWorker(CONFIG) as worker:
        yield Graded(worker, parent)
    shutil.rmtree(RESULTS_DIR, ignore_errors=True)


def outcome_of(graded, name):
    if not IS_ROOT and ITEMS[name].get("needs_root"):
        require(False, "this item's protections need the grader to run as root (CI does)")
    return graded[name]


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_loses_points_only_where_it_is_wrong(graded, name):
    spec, results = ITEMS[name], outcome_of(graded, name)["results"]
    scores = problem_scores(results.tests)
    assert set(scores) == set(problem_points())
    for problem, (score, top) in scores.items():
        assert top == problem_points()[problem]
        if problem in spec.get("zero", ""):
            assert score == 0, f"problem {problem} should score 0"
        elif problem in spec.get("lost", ""):
            assert score < top, f"problem {problem} should lose points"
        else:
            assert score == top, f"problem {problem} lost points: " + "; ".join(
                f"{t.number} {t.category}: {t.output[:300]}"
                for t in results.tests
                if t.number.startswith(problem + ".") and t.status != "passed"
            )
    by_number = {t.number: t for t in results.tests}
    for number, category in spec.get("categories", {}).items():
        accepted = category if isinstance(category, list) else [category]
        assert by_number[number].category in accepted, (number, by_number[number].output)
    for number, start in spec.get("diagnoses", {}).items():
        assert f"Likely mistake: your output equals {start}" in by_number[number].output, (
            number,
            by_number[number].output,
        )
    for number, texts in spec.get("says", {}).items():
        assert all(text in by_number[number].output for text in texts), (number, by_number[number].output)
    assert not any(t.category == "grader error" for t in results.tests)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_results_file_is_valid_and_untouched(graded, name):
    outcome = outcome_of(graded, name)
    assert outcome["seconds"] < ITEMS[name].get("max_seconds", BOUND_SECONDS)
    assert outcome["files"] == ["results.json"]  # nothing added, renamed or left half-written
    assert outcome["text"] == outcome["written"]  # exactly what the grader wrote, even after a late attack
    data = json.loads(outcome["text"])
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list) and data["tests"]
    for test in data["tests"]:
        assert set(test) >= {"name", "number", "score", "max_score", "output", "visibility"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str) and isinstance(test["number"], str)
        if "status" not in test:  # only an optional task left out, worth nothing, is neither passed nor failed
            assert test["max_score"] == 0 and test["name"].endswith("(not attempted)")
        assert test.get("status", "passed") in ("passed", "failed") and test["visibility"] in (
            "visible",
            "hidden",
            "after_due_date",
            "after_published",
        )
        assert 0 <= test["score"] <= test["max_score"]
    assert data["score"] == pytest.approx(sum(test["score"] for test in data["tests"]))
    assert 0 <= data["score"] <= sum(test["max_score"] for test in data["tests"])


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_students_see_no_secret(graded, name):
    results = outcome_of(graded, name)["results"]
    visible = [results.output] + [t.output + t.name for t in results.tests if t.visibility != "hidden"]
    for text in visible:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked"
        assert (
            "\x1b" not in text and "\x07" not in text and printable(text) == text
        )  # no control characters or sequences
    public = {c.number for c in all_cases() if c.public}
    for test in results.tests:
        if test.visibility != "hidden" and test.number not in public:  # hidden cases: a category, never inputs
            assert test.output == "Passed." or test.output.startswith("Failed: "), test.output
            assert len(test.output) < 300


@pytest.mark.parametrize("name", sorted(name for name, spec in ITEMS.items() if "notes" in spec))
def test_unused_files_are_named_to_the_student(graded, name):
    output = outcome_of(graded, name)["results"].output
    for note in ITEMS[name]["notes"]:
        assert note in output, output[:1000]


def test_nothing_reached_the_network(graded):
    assert outcome_of(graded, "phones_home")["received"] == []


def test_no_pickle_was_ever_loaded(graded):
    outcome_of(graded, "pickle_payload")
    assert not PWNED.exists()


def test_no_process_of_the_worker_user_survives(graded):
    require(IS_ROOT, "workers have their own user only when the grader runs as root (CI does)")
    time.sleep(0.5)
    left = [pid for pid in os.listdir("/proc") if pid.isdigit() and 64321 <= (_owner(pid) or 0) < 64321 + 1000]
    assert left == []


def test_leftover_processes_are_flagged_for_staff_only(graded):
    tests = outcome_of(graded, "leaves_a_process_behind")["results"].tests
    flagged = [t for t in tests if t.behaviour]
    assert flagged and all(t.status == "passed" for t in flagged)
    assert all("left a process" not in t.output for t in tests if t.visibility != "hidden")
    honest = outcome_of(graded, "nested_reference")["results"].tests
    assert not any(t.behaviour for t in honest)


def _owner(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def test_output_is_capped_and_cleaned(graded):
    scale = {t.number: t for t in outcome_of(graded, "noisy_output")["results"].tests}["4.8"]
    assert "RED" in scale.output and "broken" in scale.output and "\ufffd" in scale.output  # shown, cleaned, decoded
    assert "output cut at 64 KiB" in scale.output and len(scale.output) < 70_000


def test_fifty_megabytes_printed_keep_their_first_and_last_lines(graded):
    scale = {t.number: t for t in outcome_of(graded, "prints_50_megabytes")["results"].tests}["4.8"]
    assert (
        "FIRST LINE OF 50 MIB" in scale.output and "LAST LINE OF 50 MIB" in scale.output and len(scale.output) < 70_000
    )


def test_reference_scores_full_marks_and_template_zero(graded):
    assert outcome_of(graded, "nested_reference")["results"].score == sum(problem_points().values())
    assert outcome_of(graded, "template")["results"].score == 0


def test_public_failure_says_expected_and_given(graded):
    def case(item, number):
        return {t.number: t for t in outcome_of(graded, item)["results"].tests}[number]

    assert "expected output of shape (3,), got shape (3, 1)" in case("column_instead_of_row", "3.1").output
    value = case("p2_scaled_by_d", "2.1").output
    assert "expected" in value and "got" in value and "at index" in value
    syntax = case("syntax_error", "3.1").output
    assert (
        "SyntaxError" in syntax and "attention.py" in syntax and "Traceback" not in syntax and "worker.py" not in syntax
    )
    assert (
        "of 1092 sequences wrong" in case("p2_soft_content", "2.8").output
        and "First failing sequence: [" in case("p2_soft_content", "2.8").output
    )


def test_log_only_submission_earns_all_of_problem_2(graded):
    assert problem_scores(outcome_of(graded, "log_only")["results"].tests)["2"] == (problem_points()["2"],) * 2


def test_problem_2_is_graded_from_the_source_that_earns_more(graded):
    export = outcome_of(graded, "p2_notebook_export_beside_log")["results"]
    assert problem_scores(export.tests)["2"] == (problem_points()["2"],) * 2
    assert "Graded from submission_log.json" in {t.number: t for t in export.tests}["2.1"].output
    # the log's class (right on single tokens and on qk_dim 1: 2.2, 2.4, 2.6, and 2.7: 4 points) beats transformer.py's
    # (single tokens only: 2.2, 2.4, and 2.7: 3); transformer.py's weights (8) beat the log's wrong content matrices; of
    # the log's own checks only 2.10 and 2.13 pass (2)
    both = outcome_of(graded, "p2_both_sources_wrong")["results"]
    assert problem_scores(both.tests)["2"] == (4 + 8 + 2, problem_points()["2"])


def test_optional_task_left_out_is_neither_passed_nor_failed(graded):
    for name in ("p2_optional_task_left_out", "log_only", "template"):
        entry = {t["number"]: t for t in to_gradescope_dict(outcome_of(graded, name)["results"])["tests"]}["2.14"]
        assert "status" not in entry and entry["name"].endswith("(not attempted)"), name
        assert (entry["score"], entry["max_score"]) == (0, 0) and "Traceback" not in entry["output"], name


# Golden results: the exact results.json of the reference and the template, refreshed only with --update-golden.
GOLDEN = {
    "nested_reference": ROOT / "tests" / "golden" / "reference_results.json",
    "template": ROOT / "tests" / "golden" / "template_results.json",
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_results_match_golden_file(graded, name, request):
    produced = to_gradescope_dict(outcome_of(graded, name)["results"])
    produced.pop("execution_time")
    produced["tests"] = [
        t for t in produced["tests"] if not t["number"].startswith("0.")
    ]  # staff notes depend on the machine
    path = GOLDEN[name]
    if request.config.getoption("--update-golden"):
        path.write_text(json.dumps(produced, indent=2) + "\n")
    assert produced == json.loads(path.read_text())


def test_corpus_items_describe_themselves():
    for name, spec in ITEMS.items():
        assert spec["about"] and set(spec) <= {
            "about",
            "base",
            "remove",
            "keep_as",
            "patches",
            "replace_everywhere",
            "log",
            "symlinks",
            "nest",
            "lost",
            "zero",
            "categories",
            "needs_root",
            "wait",
            "listen",
            "budget",
            "max_seconds",
            "empty",
            "special",
            "link_upload",
            "notes",
            "lost_as_student",
            "diagnoses",
            "says",
            "files_from",
        }, name
