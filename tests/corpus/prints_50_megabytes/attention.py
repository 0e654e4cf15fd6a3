"""Prints 50 MiB."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import sys

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    print("FIRST LINE OF 50 MIB")
    sys.stdout.write("y" * (50 * 2**20) + "\n")
    print("LAST LINE OF 50 MIB")
    return _scale(d)
