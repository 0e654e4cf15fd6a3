"""Forks many sleeping children, then answers."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os
import time

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    for _ in range(200):
        try:
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
        except OSError:
            break
    return _scale(d)
