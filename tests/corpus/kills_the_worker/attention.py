"""Kills its parent."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import os
import signal


def dot_product_variance(d):
    os.kill(os.getppid(), signal.SIGKILL)
