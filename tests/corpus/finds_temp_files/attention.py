"""Looks for what leaves_temp_files left in the shared temporary folders, and loses points if anything is there."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os

from _honest_attention import attention_scale as _scale

FOLDERS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
NAMES = ["hw9-left-behind.txt", "hw9-left-dir", "hw9-left-link"]


def attention_scale(d):
    paths = [os.path.join(folder, name) for folder in FOLDERS for name in NAMES]
    found = [path for path in paths if os.path.lexists(path)]
    print(f"found {len(found)} files of an earlier submission")
    return _scale(d) * (2 if found else 1)
