"""Looks through /tmp for the grader folders of submissions graded at the same time, and reads their inputs and code."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import glob
import os
import time

from _honest_attention import attention_scale as _scale

GUESSES = 30  # the grader numbers its folders batch-0, batch-1, ... and submission-0, ...


def _files_under(folder):
    """Every file one or two levels under `folder`, where it may be listed."""
    found = []
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        found += [os.path.join(path, name) for name in os.listdir(path)] if os.path.isdir(path) else [path]
    return found


def _read_others(seconds=2.0):
    own = os.getcwd().split("/batch-")[0]  # its own grader folder is no secret
    read = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for workspace in [w for w in glob.glob("/tmp/hw9-grader-*") if w != own]:  # /tmp may be listed
            for guess in [f"batch-{n}" for n in range(GUESSES)] + [f"submission-{n}" for n in range(GUESSES)]:
                try:
                    for path in _files_under(os.path.join(workspace, guess)):
                        with open(path, "rb") as handle:
                            handle.read(1)
                        read.add(path)
                except OSError:
                    pass
        time.sleep(0.05)
    return read


def attention_scale(d):
    read = _read_others()
    print(f"read {len(read)} files of other submissions")
    return _scale(d) * (2 if read else 1)  # another submission's inputs or code: lose the points
