"""The portable path of the students' `check` (no fork, fcntl, pwd, grp or resource): the same verdicts as on Linux.

A "crippled" interpreter stands for Windows: a venv whose .pth installs a blocker that refuses
those modules and deletes os.fork and its kin (and geteuid and the O_NOFOLLOW-style flags, which Windows
lacks too) in every process it starts, -I included. The students' bundle is then run with it and
with the normal interpreter (the Linux path) on corpus items, and the verdict lines compared.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from autograder import portable, protocol
from autograder.grade import grade
from autograder.portable import PortableWorker, Splitter, needs_portable
from autograder.sandbox import Job, WarmWorker
from tests.corpus import make_submission
from tests.helpers import ROOT, unpacked_student_bundle
from tests.optional_tools import can_be_a_student, is_root, require

BLOCKER = '''
"""Refuses Linux-only modules and deletes os calls Windows lacks: test_portable.py's stand-in for Windows."""
import os
import sys

BLOCKED = ("fcntl", "pwd", "grp", "resource")


class Refuse:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in BLOCKED:
            raise ImportError(f"{name} is blocked in this interpreter")
        return None


for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, Refuse)
for name in ("fork", "forkpty", "setsid", "killpg", "getpgid", "geteuid", "getuid", "O_NOFOLLOW", "O_DIRECTORY", \
"O_NONBLOCK",
             "O_CLOEXEC", "O_NOCTTY"):
    if hasattr(os, name):
        delattr(os, name)
'''
PROBE = """
import json, os, sys
found = {}
for name in ("fcntl", "pwd", "grp", "resource"):
    try:
        __import__(name)
        found[name] = "imported"
    except ImportError:
        found[name] = "refused"
found["fork"] = hasattr(os, "fork")
found["numpy"] = __import__("numpy").__name__
if len(sys.argv) > 1:
    import subprocess
    found["child"] = json.loads(subprocess.run([sys.executable, "-I", "-c", PROBE], capture_output=True, \
text=True).stdout)
print(json.dumps(found))
"""
ITEMS = [
    "nested_reference",
    "template",
    "p5_no_sqrt2",
    "import_time_exception",
    "exits_in_functions",
    "prints_at_import_and_per_call",
    "noisy_output",
    "syntax_error",
    "hangs_and_crashes",
]
HANGS_AND_CRASHES = '''
"""One public case hangs, one aborts, one dies of a segmentation fault."""
import ctypes
import os

from _honest_attention import *  # noqa: F401,F403


def dot_product_mean(mu, sigma, d):
    while True:
        pass


def dot_product_variance(d):
    os.abort()


def attention_scale(d):
    return ctypes.string_at(0)
'''
VERDICT = re.compile(r"^\s+(PASS|FAIL|SKIP)\s+(\S+)\s+(\S+)\s", re.M)  # SKIP: an optional task not attempted
SCORE = re.compile(r"^\s+(\d|total)\s.*?(\S+ / \S+)$", re.M)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The unpacked hw9/ folder of a freshly built student zip."""
    return unpacked_student_bundle(tmp_path_factory.mktemp("portable_bundle"))


@pytest.fixture(scope="module")
def crippled(tmp_path_factory):
    """A python whose every process (its -I subprocesses included) lacks fcntl, pwd, grp, resource and os.fork."""
    venv = tmp_path_factory.mktemp("crippled") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    Path(site).joinpath("hw9_blocker.py").write_text(BLOCKER)
    Path(site).joinpath("00_hw9_blocker.pth").write_text("\n".join(ours) + "\nimport hw9_blocker\n")
    return python


def check(python, bundle, submission, extra=()):
    """`python -m autograder check` of the bundle on `submission`: (exit status, stdout)."""
    env = {key: value for key, value in os.environ.items() if key != "HW9_PORTABLE"}
    done = subprocess.run(
        [*extra, str(python), "-m", "autograder", "check", str(submission), "--color", "never", "--verbose"],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.returncode, done.stdout


def verdicts(code, stdout):
    """The exit status, (PASS/FAIL, number, points) per case, the scores."""
    return code, VERDICT.findall(stdout), SCORE.findall(stdout)


def without_isolation_line(stdout):
    """The report without the line a user without geteuid (Windows, the crippled python) gets and root does not."""
    return "".join(
        line for line in stdout.splitlines(keepends=True) if not line.startswith("(isolation is process-only")
    )


def submission_folder(name, parent):
    if name != "hangs_and_crashes":
        return make_submission(name, parent)
    folder = make_submission("hangs", parent).rename(parent / name)
    (folder / "attention.py").write_text(HANGS_AND_CRASHES)
    return folder


@pytest.fixture(scope="module")
def both_paths(bundle, crippled, tmp_path_factory):
    """item -> ((exit status, report) on the Linux path, the same on the portable path)."""
    parent = tmp_path_factory.mktemp("portable_items")
    found = {}
    for name in ITEMS:
        folder = submission_folder(name, parent)
        found[name] = (check(sys.executable, bundle, folder), check(crippled, bundle, folder))
    return found


def test_the_crippled_interpreter_lacks_what_windows_lacks(crippled):
    done = subprocess.run(
        [crippled, "-c", f"PROBE = {PROBE!r}\n" + PROBE, "and a child"], capture_output=True, text=True, timeout=60
    )
    found = json.loads(done.stdout)
    for seen in (found, found["child"]):
        assert [seen[name] for name in ("fcntl", "pwd", "grp", "resource")] == ["refused"] * 4
        assert seen["fork"] is False and seen["numpy"] == "numpy"


def test_each_interpreter_takes_its_path(bundle, crippled):
    ask = "from autograder.portable import needs_portable; print(needs_portable())"
    env = {key: value for key, value in os.environ.items() if key != "HW9_PORTABLE"}
    answers = [
        subprocess.run(
            [python, "-c", ask], cwd=bundle, capture_output=True, text=True, env=env, timeout=60
        ).stdout.strip()
        for python in (sys.executable, crippled)
    ]
    assert answers == ["False", "True"]


@pytest.mark.parametrize("name", ITEMS)
def test_the_portable_path_gives_the_linux_verdicts(both_paths, name):
    linux, portable_ = (verdicts(*found) for found in both_paths[name])
    assert len(linux[1]) == 28 and linux[2][-1][0] == "total"  # every public case graded, and the scores printed
    assert portable_ == linux
    # the explanations too (--verbose): messages, tracebacks and printed text alike (not as root, both say "isolation")
    assert without_isolation_line(both_paths[name][1][1]) == without_isolation_line(both_paths[name][0][1])


def test_what_the_items_score(both_paths):
    """The items do what they are for on both paths (so that equal verdicts are not equal breakdowns)."""
    reference, template, hangs = (
        verdicts(*both_paths[name][1]) for name in ("nested_reference", "template", "hangs_and_crashes")
    )
    assert reference[0] == 0 and reference[2][-1] == ("total", "29 / 29")
    assert {verdict for verdict, _, points in template[1] if not points.endswith("/0")} == {"FAIL"}
    assert ("SKIP", "2.14", "0/0") in template[1]  # the optional task's stub: not attempted on this path too
    assert {number for verdict, number, _ in hangs[1] if verdict == "FAIL"} == {"4.4", "4.6", "4.8"}
    report = both_paths["hangs_and_crashes"][1][1]
    assert "did not finish within 10 s" in report and "killed by signal 11" in report and "killed by signal 6" in report


def test_as_an_ordinary_user_the_verdicts_are_the_same(bundle, crippled, both_paths, tmp_path):
    as_a_student = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    require(can_be_a_student(), "this test needs `unshare --user` (util-linux, and user namespaces enabled)")
    folder = submission_folder("exits_in_functions", tmp_path)
    code, stdout = check(crippled, bundle, folder, extra=as_a_student)
    assert "isolation is process-only" in stdout
    assert verdicts(code, stdout) == verdicts(*both_paths["exits_in_functions"][0])


# ----------------------------------------------------------------------------- PortableWorker on its own


STUDENT_MODULE = """
import os, threading, time
import numpy as np

def double(x):
    return 2 * np.asarray(x)

def hang():
    while True:
        pass

def die():
    os._exit(3)

def die_leaving_a_child():
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"])  # holds the worker's stdout and stderr
    os._exit(3)

def shout(n):
    print("start")
    print("x" * n)
    print("end", flush=True)
    return n

def raises():
    raise ValueError("no")

def weights():
    return {"Km": np.eye(2), "Qm": [[1, 2]]}

def text():
    return "a string"

def leaves_a_thread():
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    return 1.0

def ran(path):
    open(path, "w").close()
"""


@pytest.fixture
def student(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "m.py").write_text(STUDENT_MODULE)
    return folder


@pytest.fixture
def in_the_bundle(monkeypatch):
    """PortableWorker as in the students' bundle, where it may run as whoever runs it (root in this container)."""
    monkeypatch.setattr(portable, "STUDENT_BUNDLE", True)


def job(function, *args, timeout=5.0):
    return Job("call", "m", function, args=args, timeout=timeout)


def test_a_timeout_kills_its_process_and_the_next_case_still_runs(student, in_the_bundle):
    with PortableWorker() as worker:
        first, hung, after = worker.run_batch(
            [job("double", np.arange(3.0)), job("hang", timeout=1.0), job("double", np.ones(2))], student
        )
        assert worker.cases_run == 2  # the case after the timeout ran in a fresh process
    assert (first.status, hung.status, after.status) == ("ok", "timeout", "ok")
    assert hung.error == "timed out after 1 s"
    np.testing.assert_array_equal(after.outputs["value"], [2.0, 2.0])


def test_a_crash_costs_its_case_only(student, in_the_bundle):
    with PortableWorker() as worker:
        died, after = worker.run_batch([job("die"), job("double", np.arange(2.0))], student)
    assert died.status == "crash" and "exited with status 3" in died.error
    assert after.status == "ok"
    np.testing.assert_array_equal(after.outputs["value"], [0.0, 2.0])


def test_a_crash_is_a_crash_while_a_process_it_started_holds_its_pipes(student, in_the_bundle):
    with PortableWorker() as worker:
        died, after = worker.run_batch([job("die_leaving_a_child", timeout=6.0), job("double", np.ones(1))], student)
    assert died.status == "crash" and "exited with status 3" in died.error
    assert after.status == "ok"


def test_a_thread_left_running_ends_its_process(student, in_the_bundle):
    with PortableWorker() as worker:
        left, after = worker.run_batch([job("leaves_a_thread"), job("double", np.ones(1))], student)
        assert worker.cases_run == 2
    assert left.left_behind and not after.left_behind and after.status == "ok"


def test_a_worker_that_cannot_start_is_the_graders_fault(student, in_the_bundle, tmp_path, monkeypatch):
    broken = tmp_path / "broken_worker.py"
    broken.write_text("import sys\nsys.stderr.write('no torch here')\nsys.exit(7)\n")
    monkeypatch.setattr(portable, "PORTABLE_SCRIPT", broken)
    with PortableWorker() as worker:
        outcomes = worker.run_batch([job("double", np.ones(1)), job("double", np.ones(1))], student)
        outcomes += worker.run_batch([job("double", np.ones(1))], student)  # tried again: a second failed start
        outcomes += worker.run_batch([job("double", np.ones(1))], student)  # not tried any more
        assert worker.failed_starts == 2 and worker.cases_run == 2
    assert [outcome.status for outcome in outcomes] == ["grader_error"] * 4
    assert "exited with status 7" in outcomes[0].error and "no torch here" in outcomes[0].error


def test_the_same_outcomes_as_the_warm_worker(student, in_the_bundle):
    def jobs():
        return [
            job("double", np.arange(6.0).reshape(2, 3)),
            job("shout", 200_000),
            job("raises"),
            job("weights"),
            job("text"),
            job("shout", 10),
        ]

    with PortableWorker() as worker:
        portable_outcomes = worker.run_batch(jobs(), student)
    with WarmWorker() as worker:
        linux_outcomes = worker.run_batch(jobs(), student)
    assert [o.status for o in linux_outcomes] == ["ok", "ok", "exception", "ok", "unsupported", "ok"]
    for mine, theirs in zip(portable_outcomes, linux_outcomes, strict=True):
        assert (mine.status, mine.kinds, mine.error, mine.error_type, mine.stdout, mine.stderr) == (
            theirs.status,
            theirs.kinds,
            theirs.error,
            theirs.error_type,
            theirs.stdout,
            theirs.stderr,
        )
        assert mine.outputs.keys() == theirs.outputs.keys()
        for name in mine.outputs:
            np.testing.assert_array_equal(mine.outputs[name], theirs.outputs[name])
    assert "output cut at 64 KiB" in portable_outcomes[1].stdout and portable_outcomes[1].stdout.startswith("start\n")
    assert portable_outcomes[5].stdout == "start\n" + "x" * 10 + "\nend\n"


def test_as_root_outside_the_bundle_it_runs_nothing(student, tmp_path):
    require(is_root(), "only root is refused: this test runs as root (CI does)")
    witness = tmp_path / "ran"
    with PortableWorker() as worker:
        (outcome,) = worker.run_batch([job("ran", str(witness))], student)
    assert outcome.status == "grader_error" and "never runs student code unconfined as root" in outcome.error
    assert not witness.exists()


def test_grade_as_root_outside_the_bundle_fails_closed(monkeypatch):
    require(is_root(), "only root is refused: this test runs as root (CI does)")
    monkeypatch.setenv("HW9_PORTABLE", "1")
    results = grade(ROOT / "reference", public_only=True)
    graded = [test for test in results.tests if test.max_score > 0]
    assert graded and results.score == 0 and all(test.status == "failed" for test in graded)


def test_needs_portable(monkeypatch):
    monkeypatch.delenv("HW9_PORTABLE", raising=False)
    assert needs_portable() is (sys.platform != "linux")
    monkeypatch.setenv("HW9_PORTABLE", "1")
    assert needs_portable() is True
    monkeypatch.delenv("HW9_PORTABLE")
    real_import = portable.importlib.import_module

    def without_pwd(name):
        if name == "pwd":
            raise ImportError(name)
        return real_import(name)

    monkeypatch.setattr(portable.importlib, "import_module", without_pwd)
    assert needs_portable() is True


def test_the_splitter_finds_markers_cut_across_chunks():
    end = protocol.case_end_marker("ab12")
    stream = bytes(b"hello\n" + end + b'{"index": 0}\n' + b"second" + end + b'{"index": 1}\n' + b"partial")
    splitter = Splitter(end, 1024, True, 1000)
    for start in range(0, len(stream), 3):  # three bytes at a time: every marker is cut somewhere
        splitter.feed(stream[start : start + 3])
    assert splitter.parts == [("hello\n", b'{"index": 0}'), ("second", b'{"index": 1}')]
    assert splitter.unfinished() == "partial"
