"""The README's authoring examples, pasted as they stand into a copy of the project, grade and validate.

A fenced python or yaml block whose line before is `<!-- authoring-example: NAME PATH -->` belongs to the example NAME
and goes to PATH (relative to the repository root): a new file is created with it, python is appended to an existing
file, and yaml is merged into an existing file (its lists extended, its mappings merged key by key); the harness knows
nothing else of the example.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from tests.helpers import ROOT, world_readable_copy

README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*authoring-example:\s*(\S+)\s+(\S+)\s*-->")
IMPORT_LINE = re.compile(r"^([ \t]*)(?:from\s+\S+\s+)?import\s.*$", re.M)
GRADER_ERROR_LINE = re.compile(r"^grader error in cases? ([\d., ]+)", re.M)  # what `grade` prints to stderr for staff
VALIDATE_ERROR_LINE = re.compile(r"^GRADER ERROR in cases? ([\d., ]+)", re.M)  # and `validate` to stdout
STAFF_WORDS = "contact course staff"


def authoring_examples(markdown: str) -> dict[str, list[tuple[str, str]]]:
    """NAME -> [(PATH, source of the block)] of every python or yaml block that a marker line directly precedes."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    examples: dict[str, list[tuple[str, str]]] = {}
    for marker, block in zip(tokens, tokens[1:], strict=False):
        found = MARKER.fullmatch(marker.content.strip()) if marker.type == "html_block" else None
        if (
            found
            and block.type == "fence"
            and block.info.strip() in ("python", "yaml")
            and marker.map[1] == block.map[0]
        ):
            examples.setdefault(found[1], []).append((found[2], block.content))
    return examples


EXAMPLES = authoring_examples(README.read_text())


@pytest.fixture
def copy_of_project():
    root = world_readable_copy("hw9-readme-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def merged(base, extra):
    """`extra` merged into `base`: lists extended, mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{key: merged(base[key], value) if key in base else value for key, value in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def paste(root: Path, blocks: list[tuple[str, str]], without_imports: bool = False) -> int:
    """Put each block in its file in `root` (a new file, python appended, yaml merged); with `without_imports`, the
    python blocks' import lines left out. Returns the number of import lines left out."""
    dropped = 0
    for path, source in blocks:
        target = root / path
        assert target.parent.is_dir(), f"the example's PATH {path} is in no folder of the project"
        if path.endswith((".yaml", ".yml")):
            assert target.is_file(), f"the example's PATH {path} is no file of the project"
            target.write_text(
                yaml.safe_dump(merged(yaml.safe_load(target.read_text()), yaml.safe_load(source)), sort_keys=False)
            )
            continue
        if without_imports:
            dropped += len(IMPORT_LINE.findall(source))
            source = IMPORT_LINE.sub(r"\1pass  # an import left out", source)
        target.write_text((target.read_text() + "\n\n" if target.exists() else "") + source)
    return dropped


def autograder(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m autograder ARGS` run from `root`, so that the copy's own grader and cases are the ones used."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )


def graded(root: Path, folder: str) -> tuple[dict, str]:
    """(number -> entry of results.json, stderr) of `grade folder` in the copy."""
    results = root / f"{folder}-results.json"
    done = autograder(root, "grade", folder, "--results", str(results))
    assert done.returncode == 0, done.stdout + done.stderr
    return {test["number"]: test for test in json.loads(results.read_text())["tests"]}, done.stderr


def case_numbers(pattern: re.Pattern, text: str) -> set[str]:
    """The case numbers of every line of `text` that `pattern` finds ("... in cases 3.6, 3.7 (...")."""
    return {number.strip() for found in pattern.findall(text) for number in found.split(",") if number.strip()}


def total(entries: dict) -> float:
    return sum(entry["score"] for entry in entries.values())


def test_the_readme_marks_its_authoring_examples():
    assert EXAMPLES, "README.md marks no authoring example"
    markers = [
        token
        for token in MarkdownIt("commonmark").parse(README.read_text())
        if token.type == "html_block" and MARKER.fullmatch(token.content.strip())
    ]
    assert len(markers) == sum(len(blocks) for blocks in EXAMPLES.values()), (
        "a marker is not on the line right before a fenced python block"
    )


def test_the_marker_is_read_only_right_before_a_python_block():
    text = (
        "<!-- authoring-example: one a/b.py -->\n```python\nx = 1\n```\n\n"
        "<!-- authoring-example: one a/c.py -->\n```python\ny = 2\n```\n\n"
        "<!-- authoring-example: far a/b.py -->\n\n```python\nz = 3\n```\n\n"
        "<!-- authoring-example: shell a/b.py -->\n```bash\nls\n```\n"
    )
    assert authoring_examples(text) == {"one": [("a/b.py", "x = 1\n"), ("a/c.py", "y = 2\n")]}


def test_a_yaml_block_is_merged_and_a_new_path_is_created(tmp_path):
    (tmp_path / "m.yaml").write_text("name: x\nitems: [a, b]\nnested: {keep: 1, list: [1]}\n")
    (tmp_path / "old.py").write_text("A = 1\n")
    paste(
        tmp_path,
        [("m.yaml", "items: [c]\nnested: {list: [2], new: 3}\n"), ("old.py", "B = 2\n"), ("new.py", "C = 3\n")],
    )
    assert yaml.safe_load((tmp_path / "m.yaml").read_text()) == {
        "name": "x",
        "items": ["a", "b", "c"],
        "nested": {"keep": 1, "list": [1, 2], "new": 3},
    }
    assert (tmp_path / "old.py").read_text() == "A = 1\n\n\nB = 2\n"
    assert (tmp_path / "new.py").read_text() == "C = 3\n"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_authoring_example_pasted_as_it_stands_grades_and_validates(name, copy_of_project):
    before, _ = graded(copy_of_project, "reference")
    paste(copy_of_project, EXAMPLES[name])
    reference, errors = graded(copy_of_project, "reference")
    new = sorted(set(reference) - set(before))
    assert new, f"the example {name} adds no case"
    assert not GRADER_ERROR_LINE.search(errors), errors
    assert all(reference[number]["status"] == "passed" for number in new), [reference[n] for n in new]
    weight = sum(reference[number]["max_score"] for number in new)
    assert weight > 0
    assert total(reference) == pytest.approx(total(before) + weight)

    template, errors = graded(copy_of_project, "student_template")
    assert not GRADER_ERROR_LINE.search(errors), errors
    for number in new:
        assert template[number]["status"] == "failed" and template[number]["score"] == 0
        assert STAFF_WORDS not in template[number]["output"]  # failed by the student's doing, not the grader's

    done = autograder(copy_of_project, "validate")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_missing_its_imports_fails_grade_and_validate_with_the_traceback(name, copy_of_project):
    assert paste(copy_of_project, EXAMPLES[name], without_imports=True) > 0, f"the example {name} imports nothing"
    entries, errors = graded(copy_of_project, "reference")
    broken = {
        number for number, entry in entries.items() if STAFF_WORDS in entry["output"] and not number.startswith("0.")
    }
    # A name missing inside a builder breaks its cases; one the decorators need breaks the module's import, and with
    # it the whole grade (entry 0.1 then says so to the student).
    assert broken or STAFF_WORDS in entries["0.1"]["output"], "the example's missing imports broke nothing"
    for number in broken | {"0.1"}:
        assert "Traceback" not in entries[number]["output"] and "autograder/" not in entries[number]["output"]
    # Staff see the traceback: on stderr, naming every broken case, and in the hidden entry 0.2.
    if broken:
        assert case_numbers(GRADER_ERROR_LINE, errors) == broken, errors
    assert "NameError" in errors and "Traceback (most recent call last)" in errors
    assert entries["0.2"]["visibility"] == "hidden" and "NameError" in entries["0.2"]["output"]

    done = autograder(copy_of_project, "validate")
    assert done.returncode != 0
    assert "NameError" in done.stdout + done.stderr and "Traceback (most recent call last)" in done.stdout + done.stderr
    assert broken <= case_numbers(VALIDATE_ERROR_LINE, done.stdout), done.stdout
