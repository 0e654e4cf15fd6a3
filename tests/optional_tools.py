"""Tests that need what a contributor's machine may lack (root, user namespaces, chromium, PyPI): skip, but fail in CI.

`require(condition, reason)` inside a test, or `needs(condition, reason)` as a mark (on a test, or as a module's
`pytestmark`; tests/conftest.py applies it): when the condition is false the test is skipped with the reason, unless
HW9_REQUIRE_ALL_TOOLS is set (to anything but "" or "0"), as .ci/run sets it, where it fails with the reason instead:
CI installs every tool and runs as root, so a skip there would hide a test that no longer runs anywhere.
"""

import os

import pytest

REQUIRE_ALL = "HW9_REQUIRE_ALL_TOOLS"
AS_A_STUDENT = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]  # a user namespace where we are uid 1000


def every_tool_required() -> bool:
    """True where a missing tool is an error, not a reason to skip (CI)."""
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def require(condition: object, reason: str) -> None:
    """Skip the calling test with `reason` when `condition` is false; fail with it when every tool is required."""
    if condition:
        return
    if every_tool_required():
        pytest.fail(f"{reason} ({REQUIRE_ALL} is set: this machine must have it)", pytrace=False)
    pytest.skip(reason)


def needs(condition: object, reason: str) -> pytest.MarkDecorator:
    """The mark form of `require`, for a test or a whole module (`pytestmark = needs(IS_ROOT, "...")`)."""
    return pytest.mark.needs(bool(condition), reason)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def can_be_a_student() -> bool:
    """Whether `unshare --user` can make us uid 1000 (util-linux's unshare, and user namespaces enabled)."""
    import shutil
    import subprocess

    if shutil.which("unshare") is None:
        return False
    return subprocess.run([*AS_A_STUDENT, "true"], capture_output=True).returncode == 0
