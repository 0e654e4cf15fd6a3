"""The homework the engine grades: its manifest (homework/manifest.yaml, validated here) and its package, loaded by
path.

The homework folder is `homework/` beside `autograder/` (in a checkout, the Gradescope zip and the
students' bundle), or the folder named by AUTOGRADER_HOMEWORK. Its Python is imported as the
package PACKAGE from that folder's files, never through sys.path, so a second homework (a test's)
runs on the same engine with no edit of it.
"""

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from autograder import PROJECT_ROOT

HOMEWORK_ENV = "AUTOGRADER_HOMEWORK"
MANIFEST_NAME = "manifest.yaml"
PACKAGE = "_graded_homework"  # the module name the homework package is imported under
REFERENCE_PACKAGE = "_graded_reference"  # and its reference modules


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(Strict):
    number: str = Field(pattern=r"^[0-9]+$")
    title: str


class LogKey(Strict):
    type: Literal["ints", "numbers", "source"]
    min_length: int = 1
    max_length: int | None = None  # None: the type's own cap (log_file.py)


class LogSpec(Strict):
    file: str = "submission_log.json"
    keys: dict[str, LogKey] = {}
    constants: dict[str, object] = {}  # values the homework's cases read (a seed, sizes): no code holds them


class CaseModules(Strict):
    modules: list[str]  # modules of the package declaring cases, e.g. cases.problem1
    bundle: list[str] = []  # those shipped to students as code; the others' public cases ship frozen to data


class WorkerFiles(Strict):
    recipes: str | None = None  # a file defining recipes(engine) -> {name: recipe}: what a job may ask the worker to do
    callables: str | None = None  # a file defining GRADER_CALLABLES: functions passed to student code by name


class BundleSpec(Strict):
    folder: str  # the one folder of the students' zip
    homework_files: list[str] = []  # files of this package the students' `check` needs (the manifest always goes)


class MutantSpec(Strict):
    modules: dict[str, str]  # reference module -> the problem its mutants count for
    functions: dict[str, str] = {}  # function -> its problem, where a module serves several
    not_graded: list[str] = []  # functions no case grades: never mutated
    provided: list[str] = []  # classes handed to students whole (in the template too): never mutated
    equivalent: str = (
        "equivalent_mutants.json"  # a JSON file (may be absent): mutant id -> why no case can tell it apart
    )
    without_log: dict[str, list[str]] = {}  # module -> case modules left out when its mutant is graded without the log
    left_out: list[str] = []  # reference files not copied into a mutant's submission


class Manifest(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title: str
    problems: list[Problem] = Field(min_length=1)
    student_files: list[str] = Field(min_length=1)
    reference: str
    template: str
    log: LogSpec | None = None
    cases: CaseModules
    worker: WorkerFiles = WorkerFiles()
    hooks: dict[
        Literal["after_grading", "bundle_public_files", "stub_outputs"], Annotated[str, Field(pattern=r"^[\w.]+:\w+$")]
    ] = {}
    # after_grading(cases, tests, submission, rerun) -> (tests, notes): the homework's last word on a grade (HW9:
    # problem 2 from the better source); bundle_public_files() -> {name: bytes}: public helpers the students' checks
    # need; stub_outputs(stub, job, expected_shape) -> (outputs, kinds) or None: what `validate`'s stub submissions
    # return for a job the engine's plain model of a function call does not fit (HW9: weights, torch recipes)
    bundle: BundleSpec
    mutants: MutantSpec | None = None
    worker_user: str | None = None  # the unprivileged user of student code (None: identity.py's, hw9worker, which
    # setup.sh creates; another name must be created on the image too)

    @property
    def titles(self) -> dict[str, str]:
        return {problem.number: problem.title for problem in self.problems}

    @property
    def log_name(self) -> str | None:
        return self.log.file if self.log else None

    @property
    def submission_files(self) -> tuple[str, ...]:
        """Every file a submission may hold: the student files, then the log."""
        return (*self.student_files, *([self.log.file] if self.log else []))


def homework_folder() -> Path:
    """The homework package's folder: AUTOGRADER_HOMEWORK, else homework/ beside autograder/."""
    return Path(os.environ.get(HOMEWORK_ENV) or PROJECT_ROOT / "homework").resolve()


HOMEWORK = homework_folder()


@cache
def manifest() -> Manifest:
    """The validated manifest of the homework."""
    return Manifest.model_validate(yaml.safe_load((HOMEWORK / MANIFEST_NAME).read_text(encoding="utf-8")))


def homework_path(relative: str) -> Path:
    """A path the manifest gives, relative to the homework folder."""
    return (HOMEWORK / relative).resolve()


REFERENCE = homework_path(manifest().reference)
TEMPLATE = homework_path(manifest().template)
STUDENT_BUNDLE = (
    not REFERENCE.is_dir()
)  # the bundle ships no reference: public cases come frozen from autograder/public


def _load_package(name: str, folder: Path) -> ModuleType:
    """The folder as package `name` (its __init__.py, if any), imported from its files, once."""
    if name not in sys.modules:
        init = folder / "__init__.py"
        if init.exists():
            spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
        else:  # a folder of modules without __init__.py: a package of nothing but its search location
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(folder)]
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        if init.exists():
            spec.loader.exec_module(package)
    return sys.modules[name]


def homework_module(name: str) -> ModuleType:
    """A module of the homework package by its dotted name in it, e.g. "cases.problem2"."""
    _load_package(PACKAGE, HOMEWORK)
    return importlib.import_module(f"{PACKAGE}.{name}")


def reference_module(name: str) -> ModuleType:
    """A module of the homework's reference folder (the grader's own solutions), loaded by path."""
    _load_package(REFERENCE_PACKAGE, REFERENCE)
    return importlib.import_module(f"{REFERENCE_PACKAGE}.{name}")


def hook(name: str) -> Callable[..., Any] | None:
    """The package's function the manifest names for hook `name`, or None when it declares none."""
    target = manifest().hooks.get(name)
    if target is None:
        return None
    module, function = target.split(":")
    return getattr(homework_module(module), function)


def worker_files() -> dict[str, str]:
    """The absolute paths of the files the worker loads by path (recipes, callables): from the grader, never the
    student."""
    files = manifest().worker.model_dump(exclude_none=True)
    return {kind: str(homework_path(relative)) for kind, relative in files.items()}


def grader_callables() -> dict:
    """The functions passed to student code by name (GRADER_CALLABLES of the homework's callables file)."""
    if manifest().worker.callables is None:
        return {}
    return homework_module(Path(manifest().worker.callables).stem).GRADER_CALLABLES
