"""Leaves a child behind."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os
import time

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    return _scale(d)
