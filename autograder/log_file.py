"""Read and validate the homework's log (submission_log.json) without trusting it: size cap, regular file, strict JSON,
per-key types.

The keys and their types are the manifest's (log.keys). Each key is validated on its own, so one bad key
costs only the checks that need it. Matrices are stored flat; infer_matrix gives them back their shape.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, Strict, StrictInt, StrictStr, TypeAdapter, ValidationError

from autograder.homework import LogKey, manifest
from autograder.untrusted_fs import KINDS, NotRegular, UntrustedPathError, read_file

LOG_NAME = manifest().log_name  # None: the homework has no log
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # ints are accepted, bools and strings are not
ITEM_TYPES = {"ints": StrictInt, "numbers": Number}  # a key's list items; "source" is one string
LENGTH_CAPS = {"ints": 100_000, "numbers": 100_000, "source": 50_000}  # items, or characters of source


def key_type(key: LogKey) -> Any:
    """The pydantic type of a log key the manifest declares: a list of ints or finite numbers, or source text."""
    bounds = Field(min_length=key.min_length, max_length=key.max_length or LENGTH_CAPS[key.type])
    if key.type == "source":
        return Annotated[StrictStr, bounds]
    return Annotated[list[ITEM_TYPES[key.type]], bounds]


KEY_TYPES = {name: key_type(key) for name, key in (manifest().log.keys if manifest().log else {}).items()}
ADAPTERS = {key: TypeAdapter(kind) for key, kind in KEY_TYPES.items()}


class LogUnreadable(Exception):
    """The file cannot be used at all (too large, not a regular file, not JSON, not an object)."""


class LogKeyError(Exception):
    """A key the check needs is missing or invalid; the message says which and why."""


@dataclass
class Log:
    """The validated keys of a log, and a message for each key that is missing or invalid."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def get(self, *keys: str) -> list[Any]:
        """The values of `keys`, or raise LogKeyError with the first key's problem."""
        for key in keys:
            if key not in self.values:
                raise LogKeyError(f"{LOG_NAME}: {self.errors.get(key, f'{key} is missing')}")
        return [self.values[key] for key in keys]


def _no_duplicates(pairs):
    """An object's pairs as a dict, refusing a key written twice; one set lookup per key keeps parsing linear."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise LogUnreadable(f"the key {key!r} appears more than once")
        seen.add(key)
    return dict(pairs)


def _no_constants(name):
    raise LogUnreadable(f"{name} is not valid JSON (write finite numbers only)")


def _read_untrusted(path, cap_bytes):
    """The log's bytes, through the one reader of student files: no link followed, no special file opened."""
    path = Path(path)
    try:
        return read_file(path.parent, path.name, cap_bytes)
    except NotRegular as error:
        kind = KINDS[error.kind]
        raise LogUnreadable(f"it is not a regular file but {kind} (links and special files are not read)") from None
    except UntrustedPathError as error:
        raise LogUnreadable(str(error)) from None


def read_log(path: str | Path, cap_bytes: int) -> Log:
    """Parse and validate the log at `path`; raise LogUnreadable when the file as a whole cannot be used."""
    raw = _read_untrusted(path, cap_bytes)
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError as error:
        raise LogUnreadable(f"it is not UTF-8 text (byte {error.start})") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise LogUnreadable("it is nested too deeply") from None
    except ValueError as error:
        raise LogUnreadable(f"it is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise LogUnreadable("its top level is not a JSON object")
    log = Log()
    for key, adapter in ADAPTERS.items():
        if key not in data:
            log.errors[key] = f"{key} is missing"
            continue
        try:
            log.values[key] = adapter.validate_python(data[key])
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{part}]" for part in first["loc"])
            log.errors[key] = f"{key}{where}: {first['msg'].lower()}"
    return log


def infer_matrix(
    flat: Sequence[float] | np.ndarray, rows: int | None = None, cols: int | None = None, name: str = "matrix"
) -> np.ndarray:
    """Reshape a flattened row-major matrix whose row or column count is known; ValueError when it cannot be."""
    flat = np.asarray(flat, dtype=np.float64)
    if rows is not None and cols is not None:
        if flat.size != rows * cols:
            raise ValueError(f"{name} has {flat.size} entries, expected {rows} x {cols} = {rows * cols}")
        return flat.reshape(rows, cols)
    known = rows if rows is not None else cols
    if flat.size % known:
        side = "rows" if rows is not None else "columns"
        raise ValueError(f"{name} has {flat.size} entries, which is not a multiple of its {known} {side}")
    other = flat.size // known
    return flat.reshape((known, other) if rows is not None else (other, known))
