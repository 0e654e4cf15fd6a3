"""tests/optional_tools.py: a missing tool skips a test with its reason, and fails it where every tool is required."""

import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.optional_tools import AS_A_STUDENT, REQUIRE_ALL, can_be_a_student, require

REASON = "the frobnicator is not installed"


def test_a_met_condition_lets_the_test_run(monkeypatch):
    monkeypatch.setenv(REQUIRE_ALL, "1")
    assert require("/usr/bin/frobnicator", REASON) is None


@pytest.mark.parametrize("value", [None, "", "0"])  # unset, empty, or turned off: a contributor's machine
def test_a_missing_tool_skips_with_the_reason(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(REQUIRE_ALL, raising=False)
    else:
        monkeypatch.setenv(REQUIRE_ALL, value)
    with pytest.raises(pytest.skip.Exception, match=REASON):
        require(None, REASON)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_a_missing_tool_fails_where_every_tool_is_required(monkeypatch, value):
    monkeypatch.setenv(REQUIRE_ALL, value)
    with pytest.raises(pytest.fail.Exception, match=REASON):
        require(False, REASON)


def test_ci_requires_every_tool():
    run = (ROOT / ".ci" / "run").read_text()
    assert f"export {REQUIRE_ALL}=1" in run
    assert run.rstrip().endswith("./setup.sh && .venv/bin/python -m pytest")  # the README's command, unchanged


def outcome_as_a_student(required):
    """Run test_protocol.py's root-only test as uid 1000 in a user namespace: pytest's summary line and status."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", REQUIRE_ALL: "1" if required else "0"}
    command = [
        *AS_A_STUDENT,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rsf",
        "-p",
        "no:cacheprovider",
        "tests/test_protocol.py",
        "-k",
        "test_a_planted_lock_link_is_never_followed",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout


def test_as_an_ordinary_user_a_root_only_test_skips_with_its_reason_unless_required():
    require(can_be_a_student(), "this test needs `unshare --user` (util-linux, and user namespaces enabled)")
    status, output = outcome_as_a_student(required=False)
    assert status == 0 and "1 skipped" in output, output
    assert "SKIPPED" in output and "worker identities are claimed only as root" in output
    status, output = outcome_as_a_student(required=True)
    assert status == 1 and "1 error" in output, output  # a mark fails the test in its set-up: pytest says "error"
    assert "worker identities are claimed only as root" in output and REQUIRE_ALL in output
