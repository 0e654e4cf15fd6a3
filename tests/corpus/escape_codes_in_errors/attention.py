"""Exceptions whose messages carry terminal escape codes, control bytes, C1 controls and bidi overrides."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

# Built at run time, so that the source line a traceback quotes holds no control character itself.
CLEAR, BELL, OSC = chr(27) + "[2J" + chr(27) + "[H", chr(7), chr(27) + "]0;owned" + chr(7)
MESSAGE = (f"{CLEAR}screen cleared{BELL}{chr(13)}overwritten{chr(0)} nul {chr(0x202E)}desrever{chr(0x202C)}"
           f" c1{chr(0x85)}{chr(0x9B)}31m red {OSC}end")


def softmax_attention(Q, K, V):
    raise ValueError(MESSAGE)


def dot_product_mean(mu, sigma, d):
    raise RuntimeError(chr(0x2066) + "isolate" + chr(0x2069) + chr(0x200F) + " mark" + chr(27) + "c reset")
