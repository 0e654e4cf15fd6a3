"""ruff, configured in pyproject.toml: the project lints clean and is formatted as `ruff format` leaves it."""

import ast
import importlib.util
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.optional_tools import require


@pytest.fixture(scope="module")
def ruff():
    """Run ruff (requirements-dev.txt pins it) from the project's root, with its configuration, writing no cache."""
    require(importlib.util.find_spec("ruff"), "ruff is not installed: run ./setup.sh (requirements-dev.txt pins it)")

    def run(*arguments, cwd=ROOT):
        command = [sys.executable, "-m", "ruff", *arguments, "--no-cache"]
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)

    return run


def test_the_linter_finds_nothing(ruff):
    done = ruff("check", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_every_file_is_formatted(ruff):
    done = ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


# What the configuration must catch, one file each: (source, the rule that finds it).
CAUGHT = [
    ("def total(values):\n    return sum(value)\n", "F821"),  # an undefined name
    ("import os\n", "F401"),  # an unused import
    ("def add(item, bucket=[]):\n    bucket.append(item)\n    return bucket\n", "B006"),  # a mutable default
    ("from typing import List\n\nnames: List[str] = []\n", "UP006"),  # typing.List where list[...] will do
    (f"text = '{'x' * 130}'\n", "E501"),  # a line over 120 characters
]


@pytest.mark.parametrize("source, rule", CAUGHT, ids=[rule for _, rule in CAUGHT])
def test_the_configuration_catches(ruff, tmp_path, source, rule):
    (tmp_path / "sample.py").write_text(source)
    done = ruff(
        "check", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise", "sample.py", cwd=tmp_path
    )
    assert done.returncode == 1 and f" {rule} " in done.stdout, done.stdout + done.stderr


def test_the_configuration_lets_a_line_of_120_characters_through(ruff, tmp_path):
    (tmp_path / "sample.py").write_text(f"text = '{'x' * 111}'\n")  # 120 characters with its quotes
    done = ruff("check", "--config", str(ROOT / "pyproject.toml"), "sample.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# Type hints: every public function of the engine (module level, or a method of a public class) annotates each
# parameter (self and cls aside) and its return. Functions nested in others are not public and are not checked.
def unannotated(source: str) -> list[str]:
    """`name (what lacks a hint)` for each public function of `source` that is not fully annotated."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions = [("", node)]
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            functions = [
                (f"{node.name}.", item)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
        else:
            continue
        for owner, function in functions:
            if function.name.startswith("_"):
                continue
            args = function.args
            parameters = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            missing = [
                p.arg for p in parameters if p is not None and p.annotation is None and p.arg not in ("self", "cls")
            ]
            missing += ["return"] if function.returns is None else []
            if missing:
                found.append(f"{owner}{function.name} ({', '.join(missing)})")
    return found


def test_every_public_engine_function_is_annotated():
    missing = {
        path.name: found
        for path in sorted((ROOT / "autograder").glob("*.py"))
        if (found := unannotated(path.read_text()))
    }
    assert not missing, missing


def test_the_annotation_check_finds_what_lacks_a_hint():
    source = (
        "def f(a, b: int) -> int:\n    def nested(x):\n        pass\n"
        "class C:\n    def m(self, *args: int, **kw):\n        pass\n    def _private(self, y):\n        pass\n"
        "def g(self: object) -> None:\n    pass\n"
    )
    assert unannotated(source) == ["f (a)", "C.m (kw, return)"]
