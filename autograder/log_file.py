"""Read and validate submission_log.json without trusting it: size cap, regular file, strict JSON, per-key types.

Each key is validated on its own, so one bad key costs only the checks that need it. The
matrices' shapes are not stored in the log; they are inferred from the lengths here.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, Strict, StrictInt, StrictStr, TypeAdapter, ValidationError

from autograder.untrusted_fs import KINDS, NotRegular, UntrustedPathError, read_file

LOG_NAME = "submission_log.json"
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # ints are accepted, bools and strings are not
Numbers = Annotated[list[Number], Field(min_length=1, max_length=100_000)]
Source = Annotated[StrictStr, Field(min_length=1, max_length=50_000)]

KEY_TYPES = {
    "torch_transformer_shape": Annotated[list[StrictInt], Field(min_length=1, max_length=8)],
    "torch_transformer_value": Annotated[list[Number], Field(min_length=5, max_length=5)],
    "torch_transformer_init": Source,
    "torch_transformer_forward": Source,
    "attention_by_content": Numbers,
    "attention_by_content_Q": Numbers,
    "attention_by_content_K": Numbers,
    "attention_by_content_V": Numbers,
    "attention_by_position": Numbers,
    "attention_by_position_pos": Numbers,
    "attention_by_position_Q": Numbers,
    "attention_by_position_K": Numbers,
    "attention_by_position_V": Numbers,
}
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

    def get(self, *keys):
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


def read_log(path, cap_bytes):
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


def infer_matrix(flat, rows=None, cols=None, name="matrix"):
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


def logged_weights(log, task):
    """The hand-designed matrices a log records for 'content' or 'position', shapes inferred from lengths."""
    key = f"attention_by_{task}"
    if task == "content":
        Q, K, V = log.get(f"{key}_Q", f"{key}_K", f"{key}_V")
        weights = {"Qm": infer_matrix(Q, rows=3, name=f"{key}_Q"), "Km": infer_matrix(K, rows=3, name=f"{key}_K")}
        weights["Vm"] = infer_matrix(V, rows=3, cols=3, name=f"{key}_V")
        return weights
    pos, Q, K, V = log.get(f"{key}_pos", f"{key}_Q", f"{key}_K", f"{key}_V")
    pos = infer_matrix(pos, rows=4, name=f"{key}_pos")
    in_dim = 3 + pos.shape[1]
    return {
        "pos": pos,
        "Qm": infer_matrix(Q, rows=in_dim, name=f"{key}_Q"),
        "Km": infer_matrix(K, rows=in_dim, name=f"{key}_K"),
        "Vm": infer_matrix(V, rows=in_dim, cols=3, name=f"{key}_V"),
    }
