"""Was a submission attempted at all, and which of its Python files do not parse: read, never run, for the class
report."""

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from autograder.homework import TEMPLATE
from autograder.log_file import LOG_NAME
from autograder.submission import STUDENT_FILES, find_student_folder
from autograder.untrusted_fs import NotFound, UntrustedPathError, read_file

SOURCE_CAP = 2 << 20  # a student file longer than this is taken as an attempt without being parsed
STUB_EXCEPTIONS = ("NotImplementedError", "NotImplemented")


@dataclass
class Attempt:
    """What the files say: `attempted` is False only for an empty upload or the template's stubs untouched."""

    attempted: bool
    syntax_errors: list = field(default_factory=list)  # names of the student's .py files that do not parse
    has_log: bool = False  # submission_log.json is there (a missing log is no invalid one)


def is_stub_body(body: list) -> bool:
    """A function body that does nothing: a docstring, then only `pass`, `...` or a `raise NotImplementedError`."""
    statements = body[1:] if body and is_docstring(body[0]) else body
    return all(is_placeholder(statement) for statement in statements)


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def is_placeholder(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    if (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and statement.value.value is Ellipsis
    ):
        return True
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(raised, ast.Name) and raised.id in STUB_EXCEPTIONS
    return False


def functions_of(tree: ast.Module) -> list:
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


@cache
def given_functions() -> frozenset:
    """The template's functions as handed out (the given NumpyTransformer, the stubs), as ast dumps."""
    dumps = set()
    for path in TEMPLATE.glob("*.py"):
        dumps.update(ast.dump(function) for function in functions_of(ast.parse(path.read_text(encoding="utf-8"))))
    return frozenset(dumps)


def has_real_function(tree: ast.Module) -> bool:
    """True when some function or method of the module is neither a stub nor exactly as the template gives it."""
    return any(
        not is_stub_body(function.body) and ast.dump(function) not in given_functions()
        for function in functions_of(tree)
    )


def inspect_upload(upload: str | Path) -> Attempt:
    """Read the student's files of `upload` (links never followed) and judge whether anything was attempted."""
    located = find_student_folder(upload)
    if located.folder is None:
        return Attempt(attempted=False)
    root = upload if not located.folder else f"{upload}/{located.folder}"
    attempted, broken, has_log = False, [], False
    for name in STUDENT_FILES:
        try:
            source = read_file(root, name, SOURCE_CAP)
        except NotFound:
            continue
        except (UntrustedPathError, OSError):  # too large, a link, unreadable: something was handed in
            attempted = True
            has_log = has_log or name == LOG_NAME
            continue
        if name == LOG_NAME:
            attempted, has_log = attempted or bool(source.strip()), True
            continue
        try:
            tree = ast.parse(source, filename=name)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            broken.append(name)
            attempted = True
            continue
        attempted = attempted or has_real_function(tree)
    return Attempt(attempted=attempted, syntax_errors=broken, has_log=has_log)
