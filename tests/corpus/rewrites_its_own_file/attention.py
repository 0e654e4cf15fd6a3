"""Rewrites itself."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

from _honest_attention import dot_product_mean as _mean


def dot_product_mean(mu, sigma, d):
    try:
        with open(__file__, "w") as me:
            me.write("raise SystemExit")
    except OSError:
        pass
    return _mean(mu, sigma, d)
