"""The `autograder` command (pyproject.toml's console script): `python -m autograder` from any folder."""

import sys

from autograder import PROJECT_ROOT


def main() -> int:
    """Run the command line as `python -m autograder` does from the project's root, wherever it is called from.

    The cases import the homework's reference (`reference/`, beside the package), which `python -m` finds because it
    runs from the root; a console script starts in any folder, so the root goes on sys.path first.
    """
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from autograder.cli import main as command_line

    return command_line()
