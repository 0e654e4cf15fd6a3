"""The public cases as data, for the students' bundle: their jobs and expected values, without the reference that
computed them.

`freeze` runs in the repository (by `build student`); `register_frozen_cases` runs in the
bundle, where it stands in for the case modules that import the reference. The modules the
manifest lists under cases.bundle need no reference values, so the bundle carries them as they are.
"""

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from autograder import PUBLIC
from autograder.checks import Expect, FeatureGram
from autograder.homework import PACKAGE, manifest
from autograder.registry import Case, register_case, rng
from autograder.sandbox import Job

CASES_FILE, ARRAYS_FILE = "cases.json", "cases.npz"


def never_reads_the_submission(case: Case) -> bool:
    """Is this a case of the frozen modules, whose builder never reads the submission?

    Their public cases' plans are fixed: built from `rng(number)` by `freeze`, and once per grading process.
    """
    modules = manifest().cases
    return case.build.__module__ in {f"{PACKAGE}.{name}" for name in modules.modules if name not in modules.bundle}


def encode(value: object, arrays: dict[str, np.ndarray]) -> object:
    """A JSON-able form of an argument or expected value; arrays go to `arrays` under a new key."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode(item, arrays) for item in value]
    if isinstance(value, dict):
        return {"dict": {key: encode(item, arrays) for key, item in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot freeze a {type(value).__name__}")


def decode(value: object, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [decode(item, arrays) for item in value]
    if isinstance(value, dict):
        return arrays[value["array"]] if "array" in value else {k: decode(v, arrays) for k, v in value["dict"].items()}
    return value


def encode_check(check: object, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(check, Expect):
        return {
            "kind": "expect",
            "expected": encode(check.expected, arrays),
            "rtol": check.rtol,
            "atol": check.atol,
            "mistakes": {words: encode(value, arrays) for words, value in check.mistakes.items()},
            "layout_words": check.layout_words,
        }
    if isinstance(check, FeatureGram):
        return {
            "kind": "gram",
            "X": encode(check.X, arrays),
            "gram": encode(check.gram, arrays),
            "features": check.features,
            "mistakes": {words: encode(value, arrays) for words, value in check.mistakes.items()},
        }
    raise TypeError(f"cannot freeze the check {check!r}")


def decode_check(record: dict[str, Any], arrays: dict[str, np.ndarray]) -> Expect | FeatureGram:
    mistakes = {words: decode(value, arrays) for words, value in record["mistakes"].items()}
    if record["kind"] == "expect":
        return Expect(
            decode(record["expected"], arrays), record["rtol"], record["atol"], mistakes, record.get("layout_words", "")
        )
    return FeatureGram(
        decode(record["X"], arrays), mistakes, decode(record.get("gram"), arrays), record.get("features", 0)
    )


def freeze(cases: Iterable[Case]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """(JSON-able records, arrays by key) of cases whose builders need no submission and return (Job, check)."""
    arrays, records = {}, []
    for case in cases:
        job, check = case.build(None, rng(case.number))
        records.append(
            {
                "number": case.number,
                "name": case.name,
                "weight": case.weight,
                "file": case.file,
                "visibility": case.visibility,
                "timeout": case.timeout,
                "tags": list(case.tags),
                "job": {
                    "recipe": job.recipe,
                    "module": job.module,
                    "function": job.function,
                    "args": encode(job.args, arrays),
                },
                "check": encode_check(check, arrays),
            }
        )
    return records, arrays


def write_frozen(cases: Iterable[Case], folder: Path) -> None:
    """Freeze `cases` into folder/cases.json and folder/cases.npz."""
    records, arrays = freeze(cases)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CASES_FILE).write_text(json.dumps(records, indent=1, allow_nan=False))
    np.savez(folder / ARRAYS_FILE, **arrays)


def thawed_builder(
    job: dict[str, Any], arrays: dict[str, np.ndarray], check: Expect | FeatureGram
) -> Callable[..., tuple[Job, Expect | FeatureGram]]:
    def build(submission, g):
        return Job(job["recipe"], job["module"], job["function"], tuple(decode(job["args"], arrays))), check

    return build


def register_frozen_cases(folder: Path = PUBLIC) -> None:
    """Register the cases frozen in `folder` (the bundle's autograder/public/); no twins: fresh inputs need the
    reference."""
    records = json.loads((folder / CASES_FILE).read_text())
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    for record in records:
        check = decode_check(record["check"], arrays)
        register_case(
            Case(
                record["number"],
                record["name"],
                record["weight"],
                thawed_builder(record["job"], arrays, check),
                record["file"],
                True,
                record["visibility"],
                record["timeout"],
                tags=tuple(record["tags"]),
            )
        )
