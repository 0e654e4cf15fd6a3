"""What runs one case in a worker's process: the recipes, the reduction of what they return, and Runner.

Both workers load this file by path (worker.py on Linux, portable_worker.py elsewhere), so it imports
nothing Linux-only: the standard library, numpy, torch, and the grader's protocol; the homework's recipes
and callables come by path too (load_homework).
"""

import importlib
import importlib.util
import os
import random
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import torch


def load_sibling(name: str) -> ModuleType:
    """A module of the grader's folder, loaded by path once (under the key supervisor.load_sibling uses too)."""
    key = f"_grader_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


protocol = load_sibling("protocol")
Status, UnsupportedReturn = protocol.Status, protocol.UnsupportedReturn


def reduce_output(value: object) -> tuple[np.ndarray | None, str]:
    """A returned value as a base float64 ndarray, or None; raises UnsupportedReturn otherwise."""
    if value is None:
        return None, "None"
    kind = type(value).__name__
    if isinstance(value, torch.Tensor):
        kind = f"torch.Tensor ({str(value.dtype).replace('torch.', '')})"
        if value.is_complex():
            raise UnsupportedReturn(f"a complex {kind}")
        value = value.detach().cpu().to(torch.float64).numpy()
    elif isinstance(value, np.ndarray):
        kind = f"numpy.ndarray ({value.dtype})"
        if type(value) is not np.ndarray:
            value = value.view(np.ndarray)
    elif isinstance(value, (bool, int, float, np.number, list, tuple)):
        kind = type(value).__name__
    else:
        raise UnsupportedReturn(f"a {kind}")
    array = np.array(value, dtype=object) if isinstance(value, (list, tuple)) else np.asarray(value)
    if array.dtype == object:  # nested lists: every leaf must be a real number
        leaves = array.ravel().tolist()
        if not all(isinstance(x, (bool, int, float, np.integer, np.floating)) for x in leaves):
            raise UnsupportedReturn(f"a {kind} holding non-numbers or ragged rows")
    elif array.dtype.kind not in "biuf":
        raise UnsupportedReturn(f"a {kind}" if kind.startswith("numpy") else f"a {kind} of dtype {array.dtype}")
    return np.array(array.astype(np.float64), dtype=np.float64, copy=True), kind


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(
        seed
    )  # torch.manual_seed also probes every accelerator (1.3 ms a case); a CPU worker has none


MAX_DICT_ITEMS = 16  # a weights dict has four matrices


def recipe_call(job: "protocol.CaseRequest", args: list) -> dict[str, object]:
    """Call module.function(*args); a returned dict (hand-designed weights) gives one output per key."""
    module = importlib.import_module(job.module)
    result = getattr(module, job.function)(*args)
    if not isinstance(result, dict):
        return {"value": result}
    if len(result) > MAX_DICT_ITEMS:
        raise UnsupportedReturn(f"a dict of {len(result)} items")
    return {f"dict:{key}": item for key, item in result.items()}


# Every recipe returns a dict of named outputs: name -> anything reduce_output accepts. The homework adds its own
# (load_homework), from its worker files the grading process names: never from a path student code could change.
RECIPES = {"call": recipe_call}
GRADER_CALLABLES = {}


def load_homework(files: dict[str, str]) -> None:
    """Add the homework's recipes and grader callables, each file loaded by path (files: kind -> absolute path)."""
    loaded = {}
    for kind, path in files.items():
        key = f"_homework_worker_{kind}"
        spec = importlib.util.spec_from_file_location(key, path)
        loaded[kind] = module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    if "recipes" in loaded:
        RECIPES.update(loaded["recipes"].recipes(sys.modules[__name__]))
    if "callables" in loaded:
        GRADER_CALLABLES.update(loaded["callables"].GRADER_CALLABLES)


def student_traceback(error: BaseException, submission: str) -> str:
    """The exception with only the frames in the student's own files, paths relative to the submission."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename.startswith(submission) or f.filename == "submission_log.json"
    ]
    for frame in frames:
        frame.filename = (
            os.path.relpath(frame.filename, submission) if frame.filename.startswith(submission) else frame.filename
        )
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines).replace(submission + os.sep, "")[-4000:]  # a SyntaxError names the file by its full path


class Runner:
    """What a batch's child runs for each case: the supervisor calls prepare, then run."""

    input_cap = 256 * 2**20  # an input array the grading process sends

    def prepare(self, case: "protocol.CaseRequest", read_input: Callable[[str, int], bytes]) -> list:
        """The case's arguments decoded and every generator seeded (before its student code runs)."""
        args = [protocol.decode_arg(spec, GRADER_CALLABLES, self.input_cap, read_input) for spec in case.args]
        seed_all(case.seed)
        return args

    def run(
        self, case: "protocol.CaseRequest", args: list, submission: str
    ) -> tuple["protocol.Status", dict[str, np.ndarray | None], dict[str, str], str, str]:
        """The student's call: (status, name -> float64 array or None, name -> kind, error, error type)."""
        try:
            values, kinds = {}, {}
            for name, value in RECIPES[case.recipe](case, args).items():
                values[name], kinds[name] = reduce_output(value)
            return Status.OK, values, kinds, "", ""
        except UnsupportedReturn as error:
            return Status.UNSUPPORTED, {}, {}, f"unsupported return type: {error}", ""
        except MemoryError as error:
            return Status.MEMORY, {}, {}, student_traceback(error, submission), ""
        except BaseException as error:  # SystemExit and KeyboardInterrupt included: they are the student's
            memory = "alloc" in str(error).lower() and "memory" in str(error).lower()
            status = Status.MEMORY if memory else Status.EXCEPTION
            return status, {}, {}, student_traceback(error, submission), type(error).__name__
