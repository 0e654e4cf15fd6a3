"""pytest options of this suite, and the `needs` mark of tests/optional_tools.py."""

import pytest

from tests.optional_tools import every_tool_required, require


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.json from the current grader")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs(condition, reason): skip unless condition, or fail in CI (tests/optional_tools.py)"
    )


def pytest_collection_modifyitems(items):
    """An unmet `needs` becomes a plain skip mark, so pytest reports the test's own location with the reason."""
    if every_tool_required():
        return
    for item in items:
        for mark in item.iter_markers("needs"):
            if not mark.args[0]:
                item.add_marker(pytest.mark.skip(reason=mark.args[1]))


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        require(*mark.args)
