"""Prints a lot, in colour, with broken bytes."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import sys

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    print("\x1b[31mRED\x1b[0m \x07 bell")
    sys.stdout.flush()
    sys.stdout.buffer.write(b"broken \xff\xfe bytes\n")
    print("x" * 5_000_000)
    print("\x1b[2J", file=sys.stderr)
    return _scale(d)
