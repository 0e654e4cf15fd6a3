"""Fills /tmp, /var/tmp, /dev/shm and its TMPDIR, 32 MiB each at most (bounded: a regression cannot fill a disk)."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os
import tempfile

from _honest_attention import attention_scale as _scale

CHUNK = b"\0" * (4 << 20)


def _fill():
    for folder in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}:
        for index in range(8):
            try:
                with open(os.path.join(folder, f"hw9-fill-{os.getpid()}-{index}"), "wb") as handle:
                    handle.write(CHUNK)
            except OSError:
                break


def attention_scale(d):
    _fill()
    return _scale(d)
